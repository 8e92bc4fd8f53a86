/**
 * The `synthetic` data set: CIFAR-10-format images generated deterministically from a seed, with
 * class-dependent patterns a small ResNet learns in a few epochs, for demos and tests without the
 * real download.
 *
 * Class c has a colour (c mod 5: red, green, blue, yellow, magenta) and stripes whose direction is
 * horizontal for c < 5 and vertical otherwise. Every image gets its own brightness, colour jitter,
 * stripe phase and period and pixel noise, so a model must learn colour ratios and stripe direction;
 * both survive the shifts and flips of augmentation.
 *
 * @example
 * const set = generateSynthetic({ size: 500, imageSize: 16, seed: 1 });
 * set.labels.length; // 500, classes balanced (50 each)
 */
import { NUM_CLASSES, type ImageSet } from "./cifar10-format.ts";
import { Rng } from "./rng.ts";

const PALETTE: readonly [number, number, number][] = [
  [1, 0.25, 0.2], [0.2, 1, 0.25], [0.25, 0.3, 1], [1, 0.95, 0.2], [1, 0.2, 0.95],
];

export interface SyntheticOptions {
  size: number;
  imageSize?: number;
  seed?: number;
}

export function generateSynthetic(options: SyntheticOptions): ImageSet {
  const { size } = options;
  const imageSize = options.imageSize ?? 32;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`synthetic size must be a positive integer, got ${size}`);
  if (!Number.isInteger(imageSize) || imageSize < 4) {
    throw new RangeError(`synthetic imageSize must be an integer ≥ 4, got ${imageSize}`);
  }
  const rng = new Rng(Rng.derive(options.seed ?? 0, "synthetic"));
  const plane = imageSize * imageSize;
  const labels = new Uint8Array(size);
  const images = new Uint8Array(size * 3 * plane);
  // Balanced classes in a shuffled order.
  const order = rng.permutation(size);
  for (let k = 0; k < size; k++) labels[order[k]!] = k % NUM_CLASSES;
  for (let n = 0; n < size; n++) {
    const c = labels[n]!;
    const color = PALETTE[c % 5]!;
    const vertical = c >= 5;
    const brightness = rng.uniform(0.55, 1);
    const jitter = [rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12)];
    const period = rng.uniform(3, 5);
    const phase = rng.uniform(0, period);
    const base = n * 3 * plane;
    for (let y = 0; y < imageSize; y++) {
      for (let x = 0; x < imageSize; x++) {
        const t = vertical ? x : y;
        const stripe = 0.55 + 0.45 * Math.sin((2 * Math.PI * (t + phase)) / period);
        for (let ch = 0; ch < 3; ch++) {
          const v = 255 * brightness * stripe * Math.min(1, Math.max(0, color[ch]! + jitter[ch]!)) + rng.uniform(-20, 20);
          images[base + ch * plane + y * imageSize + x] = Math.min(255, Math.max(0, Math.round(v)));
        }
      }
    }
  }
  return { imageSize, labels, images };
}
