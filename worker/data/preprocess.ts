/**
 * Preprocessing as Atienza's ResNet v2 example (the seed's reference): pixels scaled to [0, 1], then
 * the per-pixel mean of the training subset subtracted from training and validation images alike.
 *
 * Images stay uint8 in HWC order until a batch is built: the float copy of 50,000 CIFAR images would
 * take 600 MB, a batch takes 786 KB.
 *
 * @example
 * const train = gatherHWC(cifar.train, split.train);
 * const mean = pixelMean(train);
 * normalizeInto(train, 0, mean, tmp); // tmp = image 0 / 255 − mean
 */
import { channelsOf, type ImageSet } from "./cifar10-format.ts";

/** Images in HWC order (what tf's conv2d takes), with their labels. */
export interface ImageTable {
  imageSize: number;
  /** 3 (RGB) or 1 (grey). */
  channels: number;
  count: number;
  /** count × imageSize × imageSize × channels bytes. */
  pixels: Uint8Array;
  labels: Uint8Array;
}

/** The records at `indices` (all when omitted), transposed from the file's CHW planes to HWC. */
export function gatherHWC(set: ImageSet, indices?: Int32Array): ImageTable {
  const idx = indices ?? Int32Array.from({ length: set.labels.length }, (_, i) => i);
  const size = set.imageSize;
  const channels = channelsOf(set);
  const plane = size * size;
  const per = channels * plane;
  const pixels = new Uint8Array(idx.length * per);
  const labels = new Uint8Array(idx.length);
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    if (i < 0 || i >= set.labels.length) throw new RangeError(`record index ${i} is outside 0..${set.labels.length - 1}`);
    labels[k] = set.labels[i]!;
    const src = i * per, dst = k * per;
    if (channels === 1) {
      pixels.set(set.images.subarray(src, src + plane), dst);
      continue;
    }
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < channels; c++) pixels[dst + channels * p + c] = set.images[src + c * plane + p]!;
    }
  }
  return { imageSize: size, channels, count: idx.length, pixels, labels };
}

/** The mean over the images of x/255, per pixel and channel (H×W×C values), in float32 as Keras. */
export function pixelMean(table: ImageTable): Float32Array {
  const per = table.imageSize * table.imageSize * table.channels;
  const sum = new Float64Array(per);
  for (let k = 0; k < table.count; k++) {
    const o = k * per;
    for (let j = 0; j < per; j++) sum[j]! += table.pixels[o + j]!;
  }
  const mean = new Float32Array(per);
  for (let j = 0; j < per; j++) mean[j] = sum[j]! / 255 / table.count;
  return mean;
}

/** Writes image k of the table as x/255 − mean into `out` at `offset`. */
export function normalizeInto(table: ImageTable, k: number, mean: Float32Array, out: Float32Array, offset = 0): void {
  const per = mean.length;
  const o = k * per;
  for (let j = 0; j < per; j++) out[offset + j] = Math.fround(table.pixels[o + j]! / 255) - mean[j]!;
}
