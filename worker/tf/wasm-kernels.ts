import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "./tf-types.ts";
import { kernelsWasmBase64 } from "./assembly/kernels-wasm.ts";

type TensorInfo = tfjs.TensorInfo;
type Shape = number[];

/** The parts of tfjs-backend-wasm's BackendWasm that kernels use (it exports no such type for Node). */
interface WasmBackend {
  wasm: { asm?: { memory?: WebAssembly.Memory } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: Shape, dtype: "float32"): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** The AssemblyScript exports (see assembly/kernels.ts); pointers are byte offsets into tfjs's heap. */
interface Exports {
  channelSum(x: number, rows: number, c: number, out: number, scratch: number): void;
  centeredSquareSum(x: number, rows: number, c: number, mean: number, out: number, scratch: number): void;
  affine(x: number, rows: number, c: number, m: number, a: number, b: number, out: number, relu: number): void;
  bnReluGradSums(dr: number, r: number, x: number, rows: number, c: number, mean: number,
    dBeta: number, dGx: number, scratch: number): void;
  bnReluGradDx(dr: number, r: number, x: number, rows: number, c: number, mean: number,
    k1: number, k2: number, k3: number, dx: number): void;
  transposeToCHWN(x: number, n: number, h: number, w: number, c: number, hc: number, wc: number, out: number): void;
  transposeOuterMiddle(x: number, n: number, m: number, c: number, out: number): void;
  upsampleZeros(x: number, n: number, h: number, w: number, c: number, s: number,
    uh: number, uw: number, top: number, left: number, out: number): void;
  subsample(x: number, n: number, h: number, w: number, c: number, s: number, oh: number, ow: number, out: number): void;
  im2colT(x: number, n: number, h: number, w: number, c: number, kh: number, kw: number, s: number,
    top: number, left: number, oh: number, ow: number, out: number): void;
}

/** Kernel names of the fused batch-norm-ReLU pair that worker/model uses when a backend has them. */
export const BN_RELU_TRAIN = "ResNetBatchNormReluTrain";
export const BN_RELU_GRAD = "ResNetBatchNormReluGrad";
export const BN_RELU_INFER = "ResNetBatchNormReluInfer";

/** Inputs and attributes of the fused batch-norm-ReLU kernels (worker/model/batch-norm-relu.ts runs them). */
export interface BnReluTrainArgs {
  inputs: { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  attrs: { epsilon: number };
}
export interface BnReluGradArgs {
  /**
   * `workspace`: a fourth output of the training kernel where a backend has one (the native one: the
   * ReLU mask as oneDNN stores it); backends without it take the mask from r > 0.
   */
  inputs: {
    dr: TensorInfo; r: TensorInfo; x: TensorInfo; gamma: TensorInfo; mean: TensorInfo; variance: TensorInfo; workspace?: TensorInfo;
  };
  attrs: { epsilon: number };
}
export interface BnReluInferArgs {
  inputs: { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo; mean: TensorInfo; variance: TensorInfo };
  attrs: { epsilon: number };
}

/** What registerWasmTrainingKernels() did, for logs. */
export interface RegisteredKernels {
  readonly backend: string;
  readonly kernels: readonly string[];
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/**
 * How many leading axes a Sum reduces when they are exactly the first ones (0, 1, …, k−1, with k
 * below the rank: a per-channel sum, done in one pass without a transpose), else 0.
 */
export function leadingSumAxes(shape: readonly number[], axis: number | number[]): number {
  const rank = shape.length;
  const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
  return axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i) ? axes.length : 0;
}

type AnyKernelFunc = (args: { inputs: object; backend: unknown; attrs?: object }) => TensorInfo | TensorInfo[];
/** The stock kernels we replace, captured once: registering twice must not wrap our own. */
const stockKernels = new Map<string, AnyKernelFunc | undefined>();
let registeredFor: unknown;

export interface WasmKernelOptions {
  /**
   * How Conv2DBackpropFilter computes a k×k (k > 1) kernel's gradient: `im2col` (default) builds the
   * transposed patch matrix and runs one GEMM; `dilated-conv` runs x as [C,H,W,N] through a forward
   * conv with dy as an [OH,OW,N,CO] kernel dilated by the stride (no patch matrix; ~15% slower here).
   */
  filterGradient?: "im2col" | "dilated-conv";
}

/**
 * Registers, for the active `wasm` backend, the kernels that make training fast and small:
 *
 * - Conv2DBackpropInput (replacing tfjs's ≈1 GFLOP/s loop) and Conv2DBackpropFilter (missing in
 *   tfjs-backend-wasm): 1×1 as XNNPACK matMuls (after a strided subsample / before a zero-scatter for
 *   stride 2); k×k: dx = XNNPACK conv(dy zero-upsampled for stride s, kernel flipped with in/out
 *   channels swapped); dW = transposed im2col of x · dy as one XNNPACK GEMM (or, by option, a conv of
 *   x as [C,H,W,N] with dy as an [OH,OW,N,CO] kernel dilated by s).
 * - Identity (what tfjs runs to keep tensors for backprop) shares the buffer instead of copying it.
 * - Sum over leading axes (per-channel sums: bias and BN gradients) in one SIMD pass, no transpose.
 * - ResNetBatchNormReluTrain / ResNetBatchNormReluGrad: batch norm + ReLU forward with batch
 *   statistics and its closed-form backward in 3 + 2 SIMD passes (see worker/model/batch-norm-relu.ts);
 *   ResNetBatchNormReluInfer: the inference-mode one in 1 pass.
 *
 * Data movement (transposes, scatters) runs in our own AssemblyScript SIMD module inside tfjs's heap.
 * Must be called after `await tf.setBackend("wasm")`. Anything outside these cases (NCHW, dilated
 * forward convs, valid padding with leftovers, ...) goes to the stock kernel or a clear error.
 *
 * @example
 * await tf.setBackend("wasm");
 * registerWasmTrainingKernels(tf); // { backend: "wasm", kernels: ["Conv2DBackpropFilter", ...] }
 */
export function registerWasmTrainingKernels(tf: TF, options: WasmKernelOptions = {}): RegisteredKernels {
  const useIm2col = (options.filterGradient ?? "im2col") === "im2col";
  if (tf.getBackend() !== "wasm") {
    throw new TypeError(`registerWasmTrainingKernels() needs the active backend to be "wasm", got "${tf.getBackend()}"`);
  }
  const backend = tf.backend() as unknown as WasmBackend;
  const memory = backend.wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new TypeError("registerWasmTrainingKernels(): the wasm backend does not expose its memory (threaded build?)");
  }
  const module = new WebAssembly.Module(Buffer.from(kernelsWasmBase64, "base64"));
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Exports;

  const names = ["Conv2DBackpropInput", "Conv2DBackpropFilter", "Sum", "Identity", BN_RELU_TRAIN, BN_RELU_GRAD, BN_RELU_INFER];
  if (registeredFor === backend && options.filterGradient === undefined) return { backend: "wasm", kernels: names };
  for (const name of ["Conv2D", "BatchMatMul", "Transpose", "Sum", "Conv2DBackpropInput", "Identity"]) {
    if (!stockKernels.has(name)) stockKernels.set(name, tf.getKernel(name, "wasm")?.kernelFunc as AnyKernelFunc | undefined);
  }
  const kernel = (name: string) => {
    const f = stockKernels.get(name);
    if (!f) throw new TypeError(`wasm backend has no ${name} kernel`);
    return f;
  };
  const conv2d = kernel("Conv2D");
  const batchMatMul = kernel("BatchMatMul");
  const transpose = kernel("Transpose");
  const stockSum = kernel("Sum");
  const stockBackpropInput = stockKernels.get("Conv2DBackpropInput");

  const ptr = (t: TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  const out = (shape: Shape) => backend.makeOutput(shape, "float32");
  const free = (...ts: TensorInfo[]) => { for (const t of ts) backend.disposeData(t.dataId); };
  const f32 = (t: TensorInfo, n = prod(t.shape)) => new Float32Array(memory.buffer, ptr(t), n);
  const view = (t: TensorInfo, shape: Shape): TensorInfo => ({ dataId: t.dataId, shape, dtype: t.dtype });
  const one = (r: TensorInfo | TensorInfo[]) => (Array.isArray(r) ? r[0]! : r);
  const matMul = (a: TensorInfo, b: TensorInfo) =>
    one(batchMatMul({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } }));
  const conv = (x: TensorInfo, filter: TensorInfo, pad: number[][] | "valid", dilation = 1) =>
    one(conv2d({
      inputs: { x, filter }, backend,
      attrs: { strides: [1, 1], pad, dataFormat: "NHWC", dilations: [dilation, dilation], dimRoundingMode: undefined },
    }));

  interface ConvAttrs {
    strides: number | [number, number];
    pad: "same" | "valid" | number | number[][];
    dataFormat: "NHWC" | "NCHW";
    dimRoundingMode?: "floor" | "round" | "ceil";
    inputShape?: Shape;
    filterShape?: Shape;
  }
  const info = (xShape: Shape, fShape: Shape, a: ConvAttrs) => {
    if (a.dataFormat !== "NHWC") throw new TypeError(`wasm conv gradient kernels support NHWC only, got ${a.dataFormat}`);
    return tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number], fShape as [number, number, number, number],
      a.strides, 1, a.pad as "same", a.dimRoundingMode);
  };

  // dx for dy [N,OH,OW,CO], filter [KH,KW,CI,CO].
  const backpropInput = ({ inputs, attrs }: { inputs: { dy: TensorInfo; filter: TensorInfo }; attrs: ConvAttrs }) => {
    const { dy, filter } = inputs;
    const ci = info(attrs.inputShape!, filter.shape, attrs);
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outChannels: cout, outHeight: oh, outWidth: ow,
      filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
    const { top, left } = ci.padInfo;
    if (sh !== sw) {
      if (stockBackpropInput) return stockBackpropInput({ inputs, backend, attrs } as never);
      throw new TypeError(`wasm Conv2DBackpropInput supports equal strides only, got ${sh}×${sw}`);
    }
    const s = sh;
    if (kh === 1 && kw === 1 && top === 0 && left === 0) {
      const wt = one(transpose({ inputs: { x: view(filter, [cin, cout]) }, backend, attrs: { perm: [1, 0] } }));
      const m = matMul(view(dy, [1, n * oh * ow, cout]), wt);
      free(wt);
      if (s === 1) return view(m, [n, h, w, cin]);
      const dx = out([n, h, w, cin]);
      k.upsampleZeros(ptr(m), n, oh, ow, cin, s, h, w, 0, 0, ptr(dx));
      free(m);
      return dx;
    }
    // Flip the kernel spatially and swap its channels: [KH,KW,CI,CO] → [KH,KW,CO,CI] reversed.
    const flipped = out([kh, kw, cout, cin]);
    const src = f32(filter);
    const dst = f32(flipped);
    for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) {
      dst[((a * kw + b) * cout + o) * cin + i] = src[(((kh - 1 - a) * kw + (kw - 1 - b)) * cin + i) * cout + o]!;
    }
    let dx: TensorInfo;
    if (s === 1) {
      const pb = ci.padInfo.bottom;
      const pr = ci.padInfo.right;
      dx = conv(dy, flipped, [[0, 0], [kh - 1 - top, kh - 1 - pb], [kw - 1 - left, kw - 1 - pr], [0, 0]]);
    } else {
      const uh = h + kh - 1;
      const uw = w + kw - 1;
      const up = out([n, uh, uw, cout]);
      k.upsampleZeros(ptr(dy), n, oh, ow, cout, s, uh, uw, kh - 1 - top, kw - 1 - left, ptr(up));
      dx = conv(up, flipped, "valid");
      free(up);
    }
    free(flipped);
    return dx;
  };

  // dW for x [N,H,W,CI], dy [N,OH,OW,CO].
  const backpropFilter = ({ inputs, attrs }: { inputs: { x: TensorInfo; dy: TensorInfo }; attrs: ConvAttrs }) => {
    const { x, dy } = inputs;
    const ci = info(x.shape, attrs.filterShape!, attrs);
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outChannels: cout, outHeight: oh, outWidth: ow,
      filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
    const { top, left } = ci.padInfo;
    if (sh !== sw) throw new TypeError(`wasm Conv2DBackpropFilter supports equal strides only, got ${sh}×${sw}`);
    const s = sh;
    if (kh === 1 && kw === 1 && top === 0 && left === 0) {
      let xs = x;
      if (s !== 1 || oh !== h || ow !== w) {
        xs = out([n, oh, ow, cin]);
        k.subsample(ptr(x), n, h, w, cin, s, oh, ow, ptr(xs));
      }
      // dW = xsᵀ·dy or (dyᵀ·xs)ᵀ: transpose whichever side has fewer channels (XNNPACK packs the other).
      const p = n * oh * ow;
      if (cin <= cout) {
        const xt = out([cin, p]);
        k.transposeToCHWN(ptr(xs), p, 1, 1, cin, 1, 1, ptr(xt));
        if (xs !== x) free(xs);
        const dw = matMul(view(xt, [1, cin, p]), view(dy, [1, p, cout]));
        free(xt);
        return view(dw, [1, 1, cin, cout]);
      }
      const dyt = out([cout, p]);
      k.transposeToCHWN(ptr(dy), p, 1, 1, cout, 1, 1, ptr(dyt));
      const dwt = matMul(view(dyt, [1, cout, p]), view(xs, [1, p, cin]));
      free(dyt);
      if (xs !== x) free(xs);
      const dw = one(transpose({ inputs: { x: view(dwt, [cout, cin]) }, backend, attrs: { perm: [1, 0] } }));
      free(dwt);
      return view(dw, [1, 1, cin, cout]);
    }
    if (useIm2col) {
      const p = n * oh * ow;
      const cols = out([kh * kw * cin, p]);
      k.im2colT(ptr(x), n, h, w, cin, kh, kw, s, top, left, oh, ow, ptr(cols));
      const dw = matMul(view(cols, [1, kh * kw * cin, p]), view(dy, [1, p, cout]));
      free(cols);
      return view(dw, [kh, kw, cin, cout]);
    }
    // Rows/columns of x that no output reads are cropped; the rest is a dilated forward conv.
    let pb = kh + (oh - 1) * s - h - top;
    let pr = kw + (ow - 1) * s - w - left;
    const hc = pb < 0 ? h + pb : h;
    const wc = pr < 0 ? w + pr : w;
    pb = Math.max(pb, 0);
    pr = Math.max(pr, 0);
    const xt = out([cin, hc, wc, n]);
    k.transposeToCHWN(ptr(x), n, h, w, cin, hc, wc, ptr(xt));
    const dyt = out([oh, ow, n, cout]);
    k.transposeOuterMiddle(ptr(dy), n, oh * ow, cout, ptr(dyt));
    const g = conv(xt, dyt, [[0, 0], [top, pb], [left, pr], [0, 0]], s); // [CI, KH, KW, CO]
    free(xt, dyt);
    const dw = one(transpose({ inputs: { x: g }, backend, attrs: { perm: [1, 2, 0, 3] } }));
    free(g);
    return dw;
  };

  const sum = (args: { inputs: { x: TensorInfo }; attrs: { axis: number | number[]; keepDims: boolean } }) => {
    const { x } = args.inputs;
    const lead = leadingSumAxes(x.shape, args.attrs.axis);
    if (lead === 0 || x.dtype !== "float32") return stockSum({ inputs: args.inputs, backend, attrs: args.attrs });
    const rows = prod(x.shape.slice(0, lead));
    const kept = x.shape.slice(lead);
    const c = prod(kept);
    const result = out(args.attrs.keepDims ? [...x.shape.slice(0, lead).map(() => 1), ...kept] : kept);
    const scratch = out([c]);
    k.channelSum(ptr(x), rows, c, ptr(result), ptr(scratch));
    free(scratch);
    return result;
  };

  const bnReluTrain = ({ inputs, attrs }: BnReluTrainArgs) => {
    const { x, gamma, beta } = inputs;
    const c = x.shape[x.shape.length - 1]!;
    const rows = prod(x.shape) / c;
    const mean = out([c]);
    const variance = out([c]);
    const scratch = out([2 * c]);
    k.channelSum(ptr(x), rows, c, ptr(mean), ptr(scratch));
    const m = f32(mean);
    for (let i = 0; i < c; i++) m[i] = m[i]! / rows;
    k.centeredSquareSum(ptr(x), rows, c, ptr(mean), ptr(variance), ptr(scratch));
    const v = f32(variance);
    for (let i = 0; i < c; i++) v[i] = v[i]! / rows;
    const scale = f32(scratch); // γ/√(σ²+ε)
    const g = f32(gamma);
    for (let i = 0; i < c; i++) scale[i] = g[i]! / Math.sqrt(v[i]! + attrs.epsilon);
    const r = out(x.shape);
    k.affine(ptr(x), rows, c, ptr(mean), ptr(scratch), ptr(beta), ptr(r), 1);
    free(scratch);
    return [r, mean, variance];
  };

  const bnReluGrad = ({ inputs, attrs }: BnReluGradArgs) => {
    const { dr, r, x, gamma, mean, variance } = inputs;
    const c = x.shape[x.shape.length - 1]!;
    const rows = prod(x.shape) / c;
    const dGamma = out([c]);
    const dBeta = out([c]);
    const consts = out([5 * c]); // scratch (2c), then k1, k2, k3
    k.bnReluGradSums(ptr(dr), ptr(r), ptr(x), rows, c, ptr(mean), ptr(dBeta), ptr(dGamma), ptr(consts));
    const all = f32(consts);
    const dg = f32(dGamma);
    const db = f32(dBeta);
    const g = f32(gamma);
    const v = f32(variance);
    for (let i = 0; i < c; i++) {
      const inv = 1 / Math.sqrt(v[i]! + attrs.epsilon);
      dg[i] = dg[i]! * inv; // Σ dy·(x−μ) → Σ dy·x̂
      all[2 * c + i] = g[i]! * inv;
      all[3 * c + i] = (-g[i]! * inv * inv * dg[i]!) / rows;
      all[4 * c + i] = (-g[i]! * inv * db[i]!) / rows;
    }
    const dx = out(x.shape);
    const base = ptr(consts);
    k.bnReluGradDx(ptr(dr), ptr(r), ptr(x), rows, c, ptr(mean), base + 8 * c, base + 12 * c, base + 16 * c, ptr(dx));
    free(consts);
    return [dx, dGamma, dBeta];
  };

  // Inference mode: relu(γ·(x − moving mean)/√(moving var + ε) + β) in one SIMD pass.
  const bnReluInfer = ({ inputs, attrs }: BnReluInferArgs) => {
    const { x, gamma, beta, mean, variance } = inputs;
    const c = x.shape[x.shape.length - 1]!;
    const scale = out([c]);
    const r = out(x.shape);
    const sv = f32(scale);
    const g = f32(gamma);
    const v = f32(variance);
    for (let i = 0; i < c; i++) sv[i] = g[i]! / Math.sqrt(v[i]! + attrs.epsilon);
    k.affine(ptr(x), prod(x.shape) / c, c, ptr(mean), ptr(scale), ptr(beta), ptr(r), 1);
    free(scale);
    return r;
  };

  // tfjs clones every tensor it saves for backprop (engine.clone → Identity). The stock wasm Identity
  // copies the buffer, doubling the memory of a training step; tensors are immutable, so share the
  // buffer by reference count, as the cpu backend's Identity and every Reshape already do.
  const identity = ({ inputs }: { inputs: { x: TensorInfo } }) => {
    const { x } = inputs;
    if (x.dtype === "string") return stockKernels.get("Identity")!({ inputs, backend });
    (backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };

  const register = (kernelName: string, kernelFunc: unknown) => {
    if (tf.getKernel(kernelName, "wasm")) tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc: kernelFunc as tfjs.KernelFunc });
  };
  register("Conv2DBackpropInput", backpropInput);
  register("Conv2DBackpropFilter", backpropFilter);
  register("Sum", sum);
  register("Identity", identity);
  register(BN_RELU_TRAIN, bnReluTrain);
  register(BN_RELU_GRAD, bnReluGrad);
  register(BN_RELU_INFER, bnReluInfer);
  registeredFor = backend;
  return { backend: "wasm", kernels: names };
}
