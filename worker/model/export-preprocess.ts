/**
 * An image as an exported model's input: the run's own preprocessing (`userDefinedMetadata.
 * preprocessing`: x · scale − per-pixel mean, HWC) applied to decoded RGBA pixels. Pure; decoding
 * (pngjs) and resizing (tf.image) happen at the edge, in worker/cli/predict.ts.
 *
 * @example
 * const x = preprocessImage(rgba, meta.preprocessing); // Float32Array of H·W·C values
 */
import type { ModelMetadata } from "../../shared/model-artifact.ts";

/** Decoded pixels: width·height·4 bytes, RGBA, row-major (what pngjs gives). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * The model's channels from RGBA (alpha ignored): RGB for 3, luma (ITU-R 601: 0.299 R + 0.587 G +
 * 0.114 B, exact for grey images) for 1, as 0–255 floats. Any size.
 */
export function imageChannels(image: RgbaImage, channels: number): Float32Array {
  if (channels !== 1 && channels !== 3) throw new RangeError(`a model input needs 1 or 3 channels, got ${channels}`);
  const n = image.width * image.height;
  if (image.data.length !== n * 4) throw new RangeError(`an RGBA image of ${image.width}×${image.height} has ${n * 4} bytes, got ${image.data.length}`);
  const out = new Float32Array(n * channels);
  for (let p = 0; p < n; p++) {
    const r = image.data[4 * p]!, g = image.data[4 * p + 1]!, b = image.data[4 * p + 2]!;
    if (channels === 3) {
      out[3 * p] = r;
      out[3 * p + 1] = g;
      out[3 * p + 2] = b;
    } else out[p] = r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
  }
  return out;
}

/**
 * 0–255 values of the model's input size (H·W·C) → the model's input: v · scale − mean, computed as
 * the run computed its validation images (float32 of v/255, then the float32 mean subtracted).
 */
export function normalizeImage(values: Float32Array, p: ModelMetadata["preprocessing"]): Float32Array {
  if (values.length !== p.mean.length) {
    throw new RangeError(`the image has ${values.length} values, the model's input ${p.shape.join("×")} needs ${p.mean.length}`);
  }
  const mean = Float32Array.from(p.mean);
  const out = new Float32Array(values.length);
  // v / 255 rather than v · (1/255): the training pipeline divides (worker/data/preprocess.ts).
  // scale is stored as 1/255; 1/scale may miss 255 by an ulp, so round it when it is a whole number.
  const inverse = 1 / p.scale;
  const divisor = Math.abs(inverse - Math.round(inverse)) < 1e-9 ? Math.round(inverse) : inverse;
  for (let i = 0; i < values.length; i++) out[i] = Math.fround(values[i]! / divisor) - mean[i]!;
  return out;
}

/** The `top` most probable classes, most probable first. */
export function topClasses(probs: ArrayLike<number>, classNames: readonly string[], top: number): { name: string; p: number }[] {
  return Array.from(probs, (p, i) => ({ name: classNames[i] ?? `class ${i}`, p }))
    .sort((a, b) => b.p - a.p)
    .slice(0, top);
}
