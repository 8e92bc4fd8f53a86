/**
 * From raw records to what the training loop consumes: the validation split (or the test batch), the
 * training subset's per-pixel mean, and batch builders that normalize, augment and lay out HWC floats.
 * With `trainSize` below the training set's size, a seeded (stratified when `stratified`) subset of
 * that many images is taken first, then split. Pure and seeded; reading, fetching or generating the
 * data happens before, in `loadRawDataset` (load-dataset.ts, the I/O edge).
 *
 * @example
 * const raw = await loadRawDataset(spec.data, dataSourcesFromConfig(config));
 * const data = prepareData(raw, spec.data);
 * fillTrainBatch(data, plan, 0, 64, x, y); // x: 64·32·32·3 floats, y: 64 labels
 */
import { applyTransform, type EpochPlan } from "./augment.ts";
import { channelsOf, type ImageSet } from "./cifar10-format.ts";
import { gatherHWC, normalizeInto, pixelMean, type ImageTable } from "./preprocess.ts";
import { Rng } from "./rng.ts";
import { splitTrainValidation } from "./split.ts";

/** The run spec's `data` fields this module reads (defaults already applied). */
export interface DataOptions {
  dataset: "cifar10" | "fashion-mnist" | "synthetic";
  /** "split": `validationSize` images drawn from the training set; "test": the test batch. */
  validation?: "split" | "test";
  validationSize: number;
  stratified: boolean;
  seed: number;
  shift: number;
  flip: boolean;
  /**
   * Training records before the validation split: a stratified subset of a real set's training images,
   * or the synthetic set's size.
   */
  trainSize?: number;
  /** synthetic only: the image side. */
  imageSize?: number;
}

export interface RawDataset {
  train: ImageSet;
  test: ImageSet;
}

export interface PreparedData {
  imageSize: number;
  /** 3 (RGB) or 1 (grey): the first convolution's input channels. */
  channels: number;
  train: ImageTable;
  validation: ImageTable;
  /** Per-pixel mean (HWC) of the training subset, in [0, 1] units. */
  mean: Float32Array;
}

export function prepareData(raw: RawDataset, data: DataOptions): PreparedData {
  const imageSize = raw.train.imageSize;
  if (raw.test.imageSize !== imageSize) {
    throw new RangeError(`train and test image sizes differ: ${imageSize} and ${raw.test.imageSize}`);
  }
  const channels = channelsOf(raw.train);
  const pool = trainingPool(raw.train, data);
  let train: ImageTable, validation: ImageTable;
  if (data.validation === "test") {
    train = gatherHWC(raw.train, pool);
    validation = gatherHWC(raw.test);
  } else {
    const split = splitTrainValidation(pool === undefined ? raw.train.labels : gather(raw.train.labels, pool), {
      validationSize: data.validationSize,
      stratified: data.stratified,
      seed: data.seed,
    });
    const indices = (positions: Int32Array) => (pool === undefined ? positions : positions.map((p) => pool[p]!));
    train = gatherHWC(raw.train, indices(split.train));
    validation = gatherHWC(raw.train, indices(split.validation));
  }
  return { imageSize, channels, train, validation, mean: pixelMean(train) };
}

/**
 * The training records a run uses (ascending indices), or undefined for all of them: a seeded draw of
 * `trainSize`, stratified like the validation split, with its own random stream so the split drawn
 * from the subset does not repeat the subset's choice.
 */
function trainingPool(set: ImageSet, data: DataOptions): Int32Array | undefined {
  const n = set.labels.length;
  if (data.trainSize === undefined || data.trainSize >= n) return undefined;
  // splitTrainValidation draws `validationSize` records: here that draw is the subset kept.
  return splitTrainValidation(set.labels, {
    validationSize: data.trainSize,
    stratified: data.stratified,
    seed: Rng.derive(data.seed, "train-subset"),
  }).validation;
}

function gather(labels: Uint8Array, indices: Int32Array): Uint8Array {
  return Uint8Array.from(indices, (i) => labels[i]!);
}

/**
 * Fills `x` (count·H·W·C) and `y` (count) with the training images at plan positions
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
    else applyTransform(scratch, x, k * per, data.imageSize, data.channels, { dy, dx, flip });
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
