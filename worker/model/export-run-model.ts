/**
 * A run's weights at one epoch → what the worker stores for `GET /v1/runs/:id/model/model.json`: the
 * model.json parts that do not change ({@link StoredModel}: Keras topology, weight specs, the run's
 * preprocessing and class names) and the weight bytes in Keras order. Pure.
 *
 * The per-pixel mean the run trained with travels in `userDefinedMetadata.preprocessing`, so anyone
 * holding model.json can prepare an image exactly as the run's validation images were (x/255 − mean).
 *
 * @example
 * const { stored, data } = exportRunModel(snapshot, { runId, runName: "run 17", l2: 0, dataset: "cifar10" });
 * await saveRunModel(sql, lease, { weights: "best", epoch: 12, ..., stored, data });
 */
import type { StoredModel } from "../../shared/model-artifact.ts";
import { CIFAR10_CLASSES } from "../data/cifar10-format.ts";
import { kerasTopology, kerasWeightData, KERAS_VERSION, weightsFromKerasData } from "./export-keras-model.ts";
import type { LayerRow } from "./resnet-v2.ts";

/** A model's state at the end of an epoch, by our weight names (resnet-v2.ts `weights`). */
export interface ModelSnapshot {
  epoch: number;
  valAcc: number;
  valLoss: number;
  /** The model's layer table (the topology is derived from it). */
  layers: readonly LayerRow[];
  weights: ReadonlyMap<string, Float32Array>;
  /** The training subset's per-pixel mean, HWC. */
  mean: Float32Array;
}

export interface ExportRunInfo {
  runId: string;
  runName: string | null;
  /** The spec's optimizer.l2 (the convolutions' Keras regularizer). */
  l2: number;
  dataset: string;
}

/** Class names per data set, in label order; others are "class 0", "class 1", … */
const CLASS_NAMES: Record<string, readonly string[]> = {
  cifar10: CIFAR10_CLASSES,
  "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
};

export function exportRunModel(snapshot: ModelSnapshot, run: ExportRunInfo): { stored: StoredModel; data: Uint8Array } {
  const keras = kerasTopology(snapshot.layers, { l2: run.l2 });
  const [h, w, c] = keras.inputShape;
  if (snapshot.mean.length !== h * w * c) {
    throw new RangeError(`the mean has ${snapshot.mean.length} values, the model's input ${h}×${w}×${c} needs ${h * w * c}`);
  }
  const known = CLASS_NAMES[run.dataset];
  const classNames = known?.length === keras.numClasses
    ? [...known]
    : Array.from({ length: keras.numClasses }, (_, i) => `class ${i}`);
  return {
    stored: {
      format: "layers-model",
      generatedBy: `keras v${KERAS_VERSION}`,
      convertedBy: "resnet-jobs (worker/model/export-keras-model.ts)",
      modelTopology: keras.modelTopology as unknown as Record<string, unknown>,
      weightSpecs: keras.weights.map((k) => ({ name: k.name, shape: k.shape, dtype: "float32" as const })),
      metadata: {
        runId: run.runId,
        runName: run.runName,
        dataset: run.dataset,
        classNames,
        preprocessing: { scale: 1 / 255, shape: [h, w, c], mean: Array.from(snapshot.mean) },
      },
    },
    data: kerasWeightData(keras.weights, snapshot.weights),
  };
}

/** Stored weight bytes back to our weight names, for a model with this layer table. */
export function importRunWeights(layers: readonly LayerRow[], data: Uint8Array): Map<string, Float32Array> {
  return weightsFromKerasData(kerasTopology(layers, { l2: 0 }).weights, data);
}
