import { test } from "node:test";
import assert from "node:assert/strict";
import { applyTransform, planEpoch, type ImageTransform } from "./augment.ts";
import { Rng } from "./rng.ts";

/** A 4×4 one-channel image with pixels 1..16, row by row. */
const img = Float32Array.from({ length: 16 }, (_, i) => i + 1);

function run(t: Partial<ImageTransform>, src = img, size = 4, channels = 1): number[][] {
  const dst = new Float32Array(src.length);
  applyTransform(src, dst, 0, size, channels, { dy: 0, dx: 0, flip: false, ...t });
  const rows: number[][] = [];
  for (let r = 0; r < size; r++) rows.push(Array.from(dst.subarray(r * size * channels, (r + 1) * size * channels), (v) => Math.round(v * 1e5) / 1e5));
  return rows;
}

// Expected values are scipy.ndimage.affine_transform(x, eye(2), (dy, dx), order=1, mode="nearest")
// (scipy 1.17), which Keras's ImageDataGenerator calls for a pure shift.
test("applyTransform() shifts by whole pixels exactly, repeating the edge (fill mode nearest)", () => {
  assert.deepEqual(run({ dy: 1 }), [[5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [13, 14, 15, 16]]);
  assert.deepEqual(run({ dx: -1 }), [[1, 1, 2, 3], [5, 5, 6, 7], [9, 9, 10, 11], [13, 13, 14, 15]]);
});

test("applyTransform() interpolates fractional shifts bilinearly like scipy's order-1 affine_transform", () => {
  assert.deepEqual(run({ dy: 0.5 }), [[3, 4, 5, 6], [7, 8, 9, 10], [11, 12, 13, 14], [13, 14, 15, 16]]);
  assert.deepEqual(run({ dy: -0.25, dx: 1.5 }), [[2.5, 3.5, 4, 4], [5.5, 6.5, 7, 7], [9.5, 10.5, 11, 11], [13.5, 14.5, 15, 15]]);
  assert.deepEqual(run({ dy: 2.6, dx: -3.2 }), [[11.4, 11.4, 11.4, 11.4], [13, 13, 13, 13], [13, 13, 13, 13], [13, 13, 13, 13]]);
});

test("applyTransform() flips left-right after the shift, as Keras applies them", () => {
  assert.deepEqual(run({ flip: true }), [[4, 3, 2, 1], [8, 7, 6, 5], [12, 11, 10, 9], [16, 15, 14, 13]]);
  // Shift content left by one (out[c] = in[c + 1]), then mirror.
  assert.deepEqual(run({ dx: 1, flip: true }), [[4, 4, 3, 2], [8, 8, 7, 6], [12, 12, 11, 10], [16, 16, 15, 14]]);
});

test("applyTransform() moves all channels of an HWC pixel together", () => {
  // 2×2×3: pixel p has channels (10p, 10p+1, 10p+2).
  const rgb = Float32Array.from([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]);
  assert.deepEqual(run({ dx: 1 }, rgb, 2, 3), [[10, 11, 12, 10, 11, 12], [30, 31, 32, 30, 31, 32]]);
  assert.deepEqual(run({ flip: true }, rgb, 2, 3), [[10, 11, 12, 0, 1, 2], [30, 31, 32, 20, 21, 22]]);
});

test("planEpoch() draws a permutation and shifts within ±shift·size, reproducibly from the RNG state", () => {
  const rng = new Rng(5);
  const a = planEpoch(rng, 1000, { shift: 0.07, flip: true, imageSize: 32 });
  assert.deepEqual(Array.from(a.order).sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  const lim = 0.07 * 32;
  assert.ok(a.dy.every((v) => Math.abs(v) <= lim) && a.dx.every((v) => Math.abs(v) <= lim));
  assert.ok(Math.max(...a.dx) > 0.9 * lim && Math.min(...a.dy) < -0.9 * lim, "shifts use the whole range");
  const flips = a.flip.reduce((s, f) => s + f, 0);
  assert.ok(flips > 420 && flips < 580, `about half flipped, got ${flips}`);
  const b = planEpoch(rng, 1000, { shift: 0.07, flip: true, imageSize: 32 });
  assert.notDeepEqual(Array.from(a.order), Array.from(b.order), "a new order every epoch");
  const none = planEpoch(new Rng(5), 10, { shift: 0, flip: false, imageSize: 32 });
  assert.ok(none.dx.every((v) => v === 0) && none.flip.every((f) => f === 0));
});
