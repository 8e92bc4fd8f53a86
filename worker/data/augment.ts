/**
 * Per-epoch augmentation with Keras `ImageDataGenerator(width_shift_range=s, height_shift_range=s,
 * horizontal_flip=True)` semantics (fill_mode "nearest", interpolation order 1):
 *
 * - shifts are continuous: dy ~ U(−s·H, s·H), dx ~ U(−s·W, s·W) pixels, and the output pixel (r, c)
 *   reads the input at (r + dy, c + dx) (scipy's affine_transform: out[o] = in[o + offset]) with
 *   bilinear interpolation; positions outside the image take the nearest edge pixel;
 * - the flip (probability ½) mirrors the shifted image left–right, after the shift as Keras applies it.
 *
 * Each epoch draws a fresh order of the training images (the reshuffle) and one transform per image
 * from a seeded {@link Rng}; the whole plan is drawn at the start of the epoch, so a run stopped in the
 * middle of an epoch resumes with the same plan from the RNG state saved at the epoch's start.
 *
 * @example
 * const plan = planEpoch(rng, 40000, { shift: 0.07, flip: true, imageSize: 32 });
 * applyTransform(src, dst, 0, 32, 3, transformAt(plan, k));
 */
import type { Rng } from "./rng.ts";

export interface AugmentOptions {
  /** Fraction of the width/height, Keras `width_shift_range`/`height_shift_range` (< 1). */
  shift: number;
  flip: boolean;
  imageSize: number;
}

export interface ImageTransform {
  /** Rows the content moves up (output row r reads input row r + dy); may be fractional. */
  dy: number;
  /** Columns the content moves left (output column c reads input column c + dx). */
  dx: number;
  flip: boolean;
}

/** The epoch's order of training images and the transform of each position in that order. */
export interface EpochPlan {
  order: Int32Array;
  dy: Float64Array;
  dx: Float64Array;
  flip: Uint8Array;
}

export function planEpoch(rng: Rng, n: number, options: AugmentOptions): EpochPlan {
  const { shift, flip, imageSize } = options;
  if (!(shift >= 0 && shift < 1)) throw new RangeError(`shift must be in [0, 1), got ${shift}`);
  const order = rng.permutation(n);
  const dy = new Float64Array(n);
  const dx = new Float64Array(n);
  const flips = new Uint8Array(n);
  const range = shift * imageSize;
  for (let k = 0; k < n; k++) {
    // Keras draws height shift, then width shift, then the flip, per image.
    if (shift > 0) {
      dy[k] = rng.uniform(-range, range);
      dx[k] = rng.uniform(-range, range);
    }
    if (flip) flips[k] = rng.float() < 0.5 ? 1 : 0;
  }
  return { order, dy, dx, flip: flips };
}

export function transformAt(plan: EpochPlan, k: number): ImageTransform {
  return { dy: plan.dy[k]!, dx: plan.dx[k]!, flip: plan.flip[k] === 1 };
}

/**
 * Writes the transformed `src` (one HWC image of size×size×channels) into `dst` at `dstOffset`.
 * Integer shifts copy pixels exactly; fractional ones interpolate between the two nearest.
 */
export function applyTransform(
  src: Float32Array,
  dst: Float32Array,
  dstOffset: number,
  size: number,
  channels: number,
  t: ImageTransform,
): void {
  const last = size - 1;
  const clamp = (i: number) => (i < 0 ? 0 : i > last ? last : i);
  for (let r = 0; r < size; r++) {
    const y = r + t.dy;
    const y0f = Math.floor(y);
    const wy = y - y0f;
    const ya = clamp(y0f) * size, yb = clamp(y0f + 1) * size;
    for (let c = 0; c < size; c++) {
      const x = (t.flip ? last - c : c) + t.dx;
      const x0f = Math.floor(x);
      const wx = x - x0f;
      const xa = clamp(x0f), xb = clamp(x0f + 1);
      const p00 = (ya + xa) * channels, p01 = (ya + xb) * channels;
      const p10 = (yb + xa) * channels, p11 = (yb + xb) * channels;
      const o = dstOffset + (r * size + c) * channels;
      for (let ch = 0; ch < channels; ch++) {
        const top = wx === 0 ? src[p00 + ch]! : src[p00 + ch]! * (1 - wx) + src[p01 + ch]! * wx;
        const bottom = wy === 0 ? 0 : wx === 0 ? src[p10 + ch]! : src[p10 + ch]! * (1 - wx) + src[p11 + ch]! * wx;
        dst[o + ch] = wy === 0 ? top : top * (1 - wy) + bottom * wy;
      }
    }
  }
}
