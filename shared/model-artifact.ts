/**
 * A run's exported network as files: `model.json` (a TensorFlow.js LayersModel with a Keras
 * topology) and its weight shards. The worker stores one {@link StoredModel} (model.json without the
 * shard list) and the weight bytes per run and weights choice ("best": the epoch with the best val_acc,
 * "final": the last epoch); the API and `npm run export` cut the bytes into shards and write the
 * manifest with this module, so both hand out the same files.
 *
 * Shard files are named after the weights choice (`best-shard1of2.bin`), so a shard URL says which
 * weights it holds whatever query string a client carries along (tfjs appends model.json's own).
 *
 * @example
 * ```ts
 * const json = modelJson(stored, "best", weights.byteLength, figures);
 * json.weightsManifest[0].paths; // ["best-shard1of2.bin", "best-shard2of2.bin"]
 * shardFiles("best", weights.byteLength)[1]; // { file: "best-shard2of2.bin", start: 4194304, length: … }
 * ```
 */
import { z } from "zod";
import { MODEL_WEIGHT_KINDS } from "./db/schema.ts";

/** Which weights of a run: the best val_acc epoch's, or the last epoch's. */
export const MODEL_WEIGHTS = MODEL_WEIGHT_KINDS;
export type ModelWeights = (typeof MODEL_WEIGHTS)[number];

/** tensorflowjs_converter's default shard size. */
export const SHARD_BYTES = 4 * 1024 * 1024;

const weightSpecSchema = z.object({
  name: z.string().min(1),
  shape: z.array(z.int().min(1)),
  dtype: z.literal("float32"),
});

/** How an image becomes the model's input: x / 255 − mean (per pixel and channel, HWC). */
export const preprocessingSchema = z.object({
  /** Multiplies the 0–255 pixel values first. */
  scale: z.number(),
  /** [H, W, C] of the input (and of `mean`). */
  shape: z.tuple([z.int().min(1), z.int().min(1), z.int().min(1)]),
  /** The training subset's per-pixel mean in HWC order, H·W·C values. */
  mean: z.array(z.number()),
}).refine((p) => p.mean.length === p.shape[0] * p.shape[1] * p.shape[2], {
  message: "mean must hold H·W·C values",
  path: ["mean"],
});

/** `userDefinedMetadata` of an exported model: what `npm run predict` needs besides the network. */
export const modelMetadataSchema = z.object({
  runId: z.uuid(),
  runName: z.string().nullable(),
  weights: z.enum(MODEL_WEIGHTS),
  /** The epoch these weights are from, and its validation figures. */
  epoch: z.int().min(1),
  valAcc: z.number(),
  valLoss: z.number(),
  /** On the data set's test images (null when the run validated on the test set, or before the end). */
  testAcc: z.number().nullable(),
  testLoss: z.number().nullable(),
  dataset: z.string(),
  classNames: z.array(z.string()),
  preprocessing: preprocessingSchema,
});
export type ModelMetadata = z.output<typeof modelMetadataSchema>;

/** The figures that change after the weights were stored (test figures arrive at the run's end). */
export type ModelFigures = Pick<ModelMetadata, "weights" | "epoch" | "valAcc" | "valLoss" | "testAcc" | "testLoss">;

/** What the worker stores with the weight bytes: model.json without its shard list and figures. */
export const storedModelSchema = z.object({
  format: z.literal("layers-model"),
  generatedBy: z.string(),
  convertedBy: z.string(),
  /** The Keras functional config (worker/model/export-keras-model.ts). */
  modelTopology: z.record(z.string(), z.unknown()),
  /** Every weight in the order of the bytes. */
  weightSpecs: z.array(weightSpecSchema).min(1),
  metadata: modelMetadataSchema.omit({ weights: true, epoch: true, valAcc: true, valLoss: true, testAcc: true, testLoss: true }),
});
export type StoredModel = z.output<typeof storedModelSchema>;

/** A model.json as tf.loadLayersModel reads it. */
export const modelJsonSchema = z.object({
  format: z.literal("layers-model"),
  generatedBy: z.string(),
  convertedBy: z.string(),
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z.array(z.object({ paths: z.array(z.string()).min(1), weights: z.array(weightSpecSchema) })).length(1),
  userDefinedMetadata: modelMetadataSchema,
});
export type ModelJson = z.output<typeof modelJsonSchema>;

export interface ShardFile {
  file: string;
  /** Byte range of the weight data. */
  start: number;
  length: number;
}

/** The shards of `byteLength` bytes of weights, SHARD_BYTES each but the last. */
export function shardFiles(weights: ModelWeights, byteLength: number): ShardFile[] {
  if (!Number.isInteger(byteLength) || byteLength <= 0) throw new RangeError(`weight data must have a positive byte length, got ${byteLength}`);
  const count = Math.ceil(byteLength / SHARD_BYTES);
  return Array.from({ length: count }, (_, i) => ({
    file: `${weights}-shard${i + 1}of${count}.bin`,
    start: i * SHARD_BYTES,
    length: Math.min(SHARD_BYTES, byteLength - i * SHARD_BYTES),
  }));
}

const SHARD_NAME = /^(best|final)-shard([1-9]\d{0,3})of([1-9]\d{0,3})\.bin$/;

/** `best-shard2of3.bin` → { weights: "best", index: 1, count: 3 }; null for any other name. */
export function parseShardName(file: string): { weights: ModelWeights; index: number; count: number } | null {
  const m = SHARD_NAME.exec(file);
  if (!m) return null;
  const index = Number(m[2]) - 1;
  const count = Number(m[3]);
  return index < count ? { weights: m[1] as ModelWeights, index, count } : null;
}

/** The model.json for stored weights: the manifest lists the shards (paths relative to model.json). */
export function modelJson(stored: StoredModel, byteLength: number, figures: ModelFigures): ModelJson {
  return {
    format: stored.format,
    generatedBy: stored.generatedBy,
    convertedBy: stored.convertedBy,
    modelTopology: stored.modelTopology,
    weightsManifest: [{ paths: shardFiles(figures.weights, byteLength).map((s) => s.file), weights: stored.weightSpecs }],
    userDefinedMetadata: { ...stored.metadata, ...figures },
  };
}
