/**
 * From raw records to what the training loop consumes: the validation split (or the test batch), the
 * training subset's per-pixel mean, and batch builders that normalize, augment and lay out HWC floats.
 * Pure and seeded; reading files or generating the synthetic set happens before, in
 * {@link loadRawDataset} (the I/O edge).
 *
 * @example
 * const raw = await loadRawDataset(spec.data, { cifar10Dir: ".data/cifar10" });
 * const data = prepareData(raw, spec.data);
 * fillTrainBatch(data, plan, 0, 64, x, y); // x: 64·32·32·3 floats, y: 64 labels
 */
import { applyTransform, type EpochPlan } from "./augment.ts";
import type { ImageSet } from "./cifar10-format.ts";
import { gatherHWC, normalizeInto, pixelMean, type ImageTable } from "./preprocess.ts";
import { readCifar10 } from "./read-cifar10.ts";
import { splitTrainValidation } from "./split.ts";
import { generateSynthetic } from "./synthetic.ts";

/** The run spec's `data` fields this module reads (defaults already applied). */
export interface DataOptions {
  dataset: "cifar10" | "synthetic";
  /** "split": `validationSize` images drawn from the training set; "test": the test batch. */
  validation?: "split" | "test";
  validationSize: number;
  stratified: boolean;
  seed: number;
  shift: number;
  flip: boolean;
  /** synthetic only: training records (before the split) and image side. */
  trainSize?: number;
  imageSize?: number;
}

export interface RawDataset {
  train: ImageSet;
  test: ImageSet;
}

export interface PreparedData {
  imageSize: number;
  train: ImageTable;
  validation: ImageTable;
  /** Per-pixel mean (HWC) of the training subset, in [0, 1] units. */
  mean: Float32Array;
}

/** Synthetic defaults as the run spec's: CIFAR-10's shape. */
export const SYNTHETIC_DEFAULTS = { trainSize: 50_000, imageSize: 32 } as const;

/**
 * Reads CIFAR-10 from `cifar10Dir`, or generates the synthetic set: its content depends on its sizes
 * only (like a real data set it is the same for every run seed); its test set has a fifth of trainSize
 * images, as the run spec assumes.
 */
export async function loadRawDataset(data: DataOptions, env: { cifar10Dir: string }): Promise<RawDataset> {
  if (data.dataset === "cifar10") return readCifar10(env.cifar10Dir);
  const trainSize = data.trainSize ?? SYNTHETIC_DEFAULTS.trainSize;
  const imageSize = data.imageSize ?? SYNTHETIC_DEFAULTS.imageSize;
  const testSize = Math.max(1, Math.round(trainSize / 5));
  return {
    train: generateSynthetic({ size: trainSize, imageSize, seed: 1 }),
    test: generateSynthetic({ size: testSize, imageSize, seed: 2 }),
  };
}

export function prepareData(raw: RawDataset, data: DataOptions): PreparedData {
  const imageSize = raw.train.imageSize;
  if (raw.test.imageSize !== imageSize) {
    throw new RangeError(`train and test image sizes differ: ${imageSize} and ${raw.test.imageSize}`);
  }
  let train: ImageTable, validation: ImageTable;
  if (data.validation === "test") {
    train = gatherHWC(raw.train);
    validation = gatherHWC(raw.test);
  } else {
    const split = splitTrainValidation(raw.train.labels, {
      validationSize: data.validationSize,
      stratified: data.stratified,
      seed: data.seed,
    });
    train = gatherHWC(raw.train, split.train);
    validation = gatherHWC(raw.train, split.validation);
  }
  return { imageSize, train, validation, mean: pixelMean(train) };
}

/**
 * Fills `x` (count·H·W·3) and `y` (count) with the training images at plan positions
 * start … start+count−1: normalized, then shifted/flipped per the plan.
 */
export function fillTrainBatch(
  data: PreparedData,
  plan: EpochPlan,
  start: number,
  count: number,
  x: Float32Array,
  y: Int32Array,
): void {
  const per = data.mean.length;
  const scratch = new Float32Array(per);
  for (let k = 0; k < count; k++) {
    const pos = start + k;
    const i = plan.order[pos]!;
    y[k] = data.train.labels[i]!;
    normalizeInto(data.train, i, data.mean, scratch);
    const dy = plan.dy[pos]!, dx = plan.dx[pos]!, flip = plan.flip[pos] === 1;
    if (dy === 0 && dx === 0 && !flip) x.set(scratch, k * per);
    else applyTransform(scratch, x, k * per, data.imageSize, 3, { dy, dx, flip });
  }
}

/** Fills `x`/`y` with table images start … start+count−1, normalized, not augmented. */
export function fillEvalBatch(
  table: ImageTable,
  mean: Float32Array,
  start: number,
  count: number,
  x: Float32Array,
  y: Int32Array,
): void {
  const per = mean.length;
  for (let k = 0; k < count; k++) {
    y[k] = table.labels[start + k]!;
    normalizeInto(table, start + k, mean, x, k * per);
  }
}
