// @ts-nocheck — AssemblyScript source (compiled by `npm run build:kernels`), not Node TypeScript.
//
// Memory-bound training kernels for the tfjs wasm backend: they run inside tfjs's own linear memory
// (imported), on tensors addressed by byte offsets, with 128-bit SIMD. Every tensor is float32 and
// channels-last; `c` is the innermost (channel) size. No allocation, no data segments: this module
// must never write outside the buffers it is handed.

const BLOCK: i32 = 256; // rows summed into a block accumulator before joining the total (accuracy)

@inline function ld(p: usize): v128 { return v128.load(p); }
@inline function st(p: usize, v: v128): void { v128.store(p, v); }

function zero(p: usize, n: i32): void { memory.fill(p, 0, <usize>n << 2); }

/** out[ch] = Σ_rows x[row, ch] for x [rows, c]; scratch: c floats. */
export function channelSum(x: usize, rows: i32, c: i32, out: usize, scratch: usize): void {
  zero(out, c);
  const c4 = c & ~3;
  const rowBytes = <usize>c << 2;
  for (let b = 0; b < rows; b += BLOCK) {
    zero(scratch, c);
    const end = min(b + BLOCK, rows);
    for (let r = b; r < end; r++) {
      const row = x + <usize>r * rowBytes;
      let k = 0;
      for (; k < c4; k += 4) { const o = <usize>k << 2; st(scratch + o, f32x4.add(ld(scratch + o), ld(row + o))); }
      for (; k < c; k++) { const o = <usize>k << 2; store<f32>(scratch + o, load<f32>(scratch + o) + load<f32>(row + o)); }
    }
    let k = 0;
    for (; k < c4; k += 4) { const o = <usize>k << 2; st(out + o, f32x4.add(ld(out + o), ld(scratch + o))); }
    for (; k < c; k++) { const o = <usize>k << 2; store<f32>(out + o, load<f32>(out + o) + load<f32>(scratch + o)); }
  }
}

/** out[ch] = Σ_rows (x[row, ch] − mean[ch])²; scratch: c floats. */
export function centeredSquareSum(x: usize, rows: i32, c: i32, mean: usize, out: usize, scratch: usize): void {
  zero(out, c);
  const c4 = c & ~3;
  const rowBytes = <usize>c << 2;
  for (let b = 0; b < rows; b += BLOCK) {
    zero(scratch, c);
    const end = min(b + BLOCK, rows);
    for (let r = b; r < end; r++) {
      const row = x + <usize>r * rowBytes;
      let k = 0;
      for (; k < c4; k += 4) {
        const o = <usize>k << 2;
        const d = f32x4.sub(ld(row + o), ld(mean + o));
        st(scratch + o, f32x4.add(ld(scratch + o), f32x4.mul(d, d)));
      }
      for (; k < c; k++) {
        const o = <usize>k << 2;
        const d = load<f32>(row + o) - load<f32>(mean + o);
        store<f32>(scratch + o, load<f32>(scratch + o) + d * d);
      }
    }
    let k = 0;
    for (; k < c4; k += 4) { const o = <usize>k << 2; st(out + o, f32x4.add(ld(out + o), ld(scratch + o))); }
    for (; k < c; k++) { const o = <usize>k << 2; store<f32>(out + o, load<f32>(out + o) + load<f32>(scratch + o)); }
  }
}

/** out = max((x − m)·a + b, 0) per channel (relu = 1) or (x − m)·a + b (relu = 0); x, out [rows, c]. */
export function affine(x: usize, rows: i32, c: i32, m: usize, a: usize, b: usize, out: usize, relu: i32): void {
  const c4 = c & ~3;
  const rowBytes = <usize>c << 2;
  const z = f32x4.splat(0);
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const orow = out + <usize>r * rowBytes;
    let k = 0;
    for (; k < c4; k += 4) {
      const o = <usize>k << 2;
      let v = f32x4.add(f32x4.mul(f32x4.sub(ld(xr + o), ld(m + o)), ld(a + o)), ld(b + o));
      if (relu) v = f32x4.max(v, z);
      st(orow + o, v);
    }
    for (; k < c; k++) {
      const o = <usize>k << 2;
      let v = (load<f32>(xr + o) - load<f32>(m + o)) * load<f32>(a + o) + load<f32>(b + o);
      if (relu && !(v > 0)) v = 0;
      store<f32>(orow + o, v);
    }
  }
}

/**
 * Batch-norm-ReLU backward, reduction pass: with dy = dr·[r > 0],
 * dBeta[ch] = Σ dy, dGx[ch] = Σ dy·(x − mean). scratch: 2c floats.
 */
export function bnReluGradSums(dr: usize, r: usize, x: usize, rows: i32, c: i32, mean: usize,
                               dBeta: usize, dGx: usize, scratch: usize): void {
  zero(dBeta, c);
  zero(dGx, c);
  const s1 = scratch;
  const s2 = scratch + (<usize>c << 2);
  const c4 = c & ~3;
  const rowBytes = <usize>c << 2;
  const z = f32x4.splat(0);
  for (let b = 0; b < rows; b += BLOCK) {
    zero(s1, c);
    zero(s2, c);
    const end = min(b + BLOCK, rows);
    for (let i = b; i < end; i++) {
      const off = <usize>i * rowBytes;
      let k = 0;
      for (; k < c4; k += 4) {
        const o = <usize>k << 2;
        const dy = v128.and(ld(dr + off + o), f32x4.gt(ld(r + off + o), z));
        st(s1 + o, f32x4.add(ld(s1 + o), dy));
        st(s2 + o, f32x4.add(ld(s2 + o), f32x4.mul(dy, f32x4.sub(ld(x + off + o), ld(mean + o)))));
      }
      for (; k < c; k++) {
        const o = <usize>k << 2;
        const dy: f32 = load<f32>(r + off + o) > 0 ? load<f32>(dr + off + o) : 0;
        store<f32>(s1 + o, load<f32>(s1 + o) + dy);
        store<f32>(s2 + o, load<f32>(s2 + o) + dy * (load<f32>(x + off + o) - load<f32>(mean + o)));
      }
    }
    let k = 0;
    for (; k < c4; k += 4) {
      const o = <usize>k << 2;
      st(dBeta + o, f32x4.add(ld(dBeta + o), ld(s1 + o)));
      st(dGx + o, f32x4.add(ld(dGx + o), ld(s2 + o)));
    }
    for (; k < c; k++) {
      const o = <usize>k << 2;
      store<f32>(dBeta + o, load<f32>(dBeta + o) + load<f32>(s1 + o));
      store<f32>(dGx + o, load<f32>(dGx + o) + load<f32>(s2 + o));
    }
  }
}

/** Batch-norm-ReLU backward, dx pass: dx = dy·k1 + (x − mean)·k2 + k3 with dy = dr·[r > 0]. */
export function bnReluGradDx(dr: usize, r: usize, x: usize, rows: i32, c: i32, mean: usize,
                             k1: usize, k2: usize, k3: usize, dx: usize): void {
  const c4 = c & ~3;
  const rowBytes = <usize>c << 2;
  const z = f32x4.splat(0);
  for (let i = 0; i < rows; i++) {
    const off = <usize>i * rowBytes;
    let k = 0;
    for (; k < c4; k += 4) {
      const o = <usize>k << 2;
      const dy = v128.and(ld(dr + off + o), f32x4.gt(ld(r + off + o), z));
      const d = f32x4.sub(ld(x + off + o), ld(mean + o));
      st(dx + off + o, f32x4.add(f32x4.add(f32x4.mul(dy, ld(k1 + o)), f32x4.mul(d, ld(k2 + o))), ld(k3 + o)));
    }
    for (; k < c; k++) {
      const o = <usize>k << 2;
      const dy: f32 = load<f32>(r + off + o) > 0 ? load<f32>(dr + off + o) : 0;
      const d = load<f32>(x + off + o) - load<f32>(mean + o);
      store<f32>(dx + off + o, dy * load<f32>(k1 + o) + d * load<f32>(k2 + o) + load<f32>(k3 + o));
    }
  }
}

/**
 * x [n, h, w, c] → out [c, hc, wc, n] (NHWC → CHWN, keeping rows < hc and columns < wc), in 8×8
 * tiles of (n, c) per pixel so reads and writes both stay within a few cache lines.
 */
export function transposeToCHWN(x: usize, n: i32, h: i32, w: i32, c: i32, hc: i32, wc: i32, out: usize): void {
  const T: i32 = 8;
  for (let y = 0; y < hc; y++) {
    for (let xx = 0; xx < wc; xx++) {
      const src = x + ((<usize>y * <usize>w + <usize>xx) * <usize>c << 2);
      const dst = out + ((<usize>y * <usize>wc + <usize>xx) * <usize>n << 2);
      const nStride = <usize>h * <usize>w * <usize>c << 2;
      const cStride = <usize>hc * <usize>wc * <usize>n << 2;
      for (let n0 = 0; n0 < n; n0 += T) {
        const n1 = min(n0 + T, n);
        for (let c0 = 0; c0 < c; c0 += T) {
          const c1 = min(c0 + T, c);
          for (let ch = c0; ch < c1; ch++) {
            const d = dst + <usize>ch * cStride;
            const s = src + (<usize>ch << 2);
            for (let i = n0; i < n1; i++) store<f32>(d + (<usize>i << 2), load<f32>(s + <usize>i * nStride));
          }
        }
      }
    }
  }
}

/** [n, m, c] → [m, n, c] (NHWC → HWNC with m = H·W): one row copy of c floats per (n, m). */
export function transposeOuterMiddle(x: usize, n: i32, m: i32, c: i32, out: usize): void {
  const rowBytes = <usize>c << 2;
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < n; i++) {
      memory.copy(out + (<usize>j * <usize>n + <usize>i) * rowBytes, x + (<usize>i * <usize>m + <usize>j) * rowBytes, rowBytes);
    }
  }
}

/**
 * Zero-filled out [n, uh, uw, c] with out[b, top + i·s, left + j·s, :] = x[b, i, j, :] for
 * x [n, h, w, c] (positions outside out are skipped): the stride-s "scatter" that turns a strided
 * convolution's gradient into a stride-1 one.
 */
export function upsampleZeros(x: usize, n: i32, h: i32, w: i32, c: i32, s: i32,
                              uh: i32, uw: i32, top: i32, left: i32, out: usize): void {
  const rowBytes = <usize>c << 2;
  memory.fill(out, 0, <usize>n * <usize>uh * <usize>uw * rowBytes);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < h; i++) {
      const y = top + i * s;
      if (y < 0 || y >= uh) continue;
      for (let j = 0; j < w; j++) {
        const xx = left + j * s;
        if (xx < 0 || xx >= uw) continue;
        memory.copy(out + ((<usize>b * <usize>uh + <usize>y) * <usize>uw + <usize>xx) * rowBytes,
          x + ((<usize>b * <usize>h + <usize>i) * <usize>w + <usize>j) * rowBytes, rowBytes);
      }
    }
  }
}

/** out [n, oh, ow, c] = x[b, i·s, j·s, :] for x [n, h, w, c]: a stride-s subsample. */
export function subsample(x: usize, n: i32, h: i32, w: i32, c: i32, s: i32, oh: i32, ow: i32, out: usize): void {
  const rowBytes = <usize>c << 2;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        memory.copy(out + ((<usize>b * <usize>oh + <usize>i) * <usize>ow + <usize>j) * rowBytes,
          x + ((<usize>b * <usize>h + <usize>i * s) * <usize>w + <usize>j * s) * rowBytes, rowBytes);
      }
    }
  }
}

/**
 * Transposed im2col: out [kh·kw·c, n·oh·ow] with out[(a·kw + b)·c + ch, (i·oh + y)·ow + z] =
 * x[i, y·s + a − top, z·s + b − left, ch] (0 outside x). Then dW [kh, kw, c, co] = out · dy[P, co]
 * is one plain GEMM. Written 8 channels at a time so reads are contiguous and writes are 8 streams.
 */
export function im2colT(x: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, s: i32,
                        top: i32, left: i32, oh: i32, ow: i32, out: usize): void {
  const P = <usize>n * <usize>oh * <usize>ow;
  const rowBytes = P << 2;
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const tap = a * kw + b;
      for (let c0 = 0; c0 < c; c0 += 8) {
        const c1 = min(c0 + 8, c);
        const dst0 = out + <usize>(tap * c + c0) * rowBytes;
        for (let i = 0; i < n; i++) {
          for (let y = 0; y < oh; y++) {
            const ih = y * s + a - top;
            const p0 = (<usize>(i * oh + y) * <usize>ow) << 2;
            if (ih < 0 || ih >= h) {
              for (let ch = c0; ch < c1; ch++) memory.fill(dst0 + <usize>(ch - c0) * rowBytes + p0, 0, <usize>ow << 2);
              continue;
            }
            const srcRow = x + ((<usize>(i * h + ih) * <usize>w) * <usize>c << 2);
            for (let z = 0; z < ow; z++) {
              const iw = z * s + b - left;
              const d = dst0 + p0 + (<usize>z << 2);
              if (iw < 0 || iw >= w) {
                for (let ch = c0; ch < c1; ch++) store<f32>(d + <usize>(ch - c0) * rowBytes, 0);
              } else {
                const src = srcRow + ((<usize>iw * <usize>c + <usize>c0) << 2);
                for (let ch = c0; ch < c1; ch++) store<f32>(d + <usize>(ch - c0) * rowBytes, load<f32>(src + (<usize>(ch - c0) << 2)));
              }
            }
          }
        }
      }
    }
  }
}
