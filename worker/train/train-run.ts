/**
 * Trains one run spec: the pure core of the worker. Everything with side effects comes in through
 * `deps` (the data, the model factory, where checkpoints go, what to do with progress and metrics,
 * whether to stop), so the queue, the CLI and the tests drive the same loop.
 *
 * Per iteration i (0-based): lr = schedule(i / stepsPerEpoch), decay = lr·λ (or the WD schedule's
 * value), one AdamW step (Keras 3 semantics) on a batch of normalized, shifted/flipped images.
 * Per epoch: the metrics Keras prints, the first epoch at the threshold and the best val_acc so far,
 * a checkpoint, then `onEpochEnd`. Between batches `shouldStop` may ask to cancel or drain: the loop
 * writes a checkpoint of the partial epoch and returns, and resuming continues at the next batch with
 * the same numbers an uninterrupted run would produce.
 *
 * @example
 * const result = await trainRun(tf, spec, {
 *   data: await loadRawDataset(spec.data, { cifar10Dir }),
 *   createModel,
 *   checkpoints: fileCheckpointStore(join(checkpointDir, "run-17.ckpt")),
 *   onEpochEnd: (m) => console.log(m.epoch, m.valAcc),
 * });
 */
import type { StopRequest, TrainStatus } from "../runner/trainer.ts";
import type * as tfjs from "@tensorflow/tfjs";
import { lastEpoch, parseSchedule, scheduleValueAtIteration, type Schedule } from "../../shared/schedule/mod.ts";
import { planEpoch } from "../data/augment.ts";
import { fillEvalBatch, fillTrainBatch, prepareData, type PreparedData, type RawDataset } from "../data/prepare-data.ts";
import { gatherHWC, type ImageTable } from "../data/preprocess.ts";
import type { ModelSnapshot } from "../model/export-run-model.ts";
import { Rng } from "../data/rng.ts";
import { buildResNetV2, type LayerRow, type ResNetV2Options } from "../model/resnet-v2.ts";
import { AdamW } from "./adamw.ts";
import type { CheckpointStore, PartialEpoch, SavedTensor, TrainCheckpoint } from "./checkpoint.ts";
import { ClassifierSteps } from "./classifier-steps.ts";
import { type SeedSummary, summarizeEpochs } from "../../shared/run-summary.ts";
import type { EpochMetrics } from "./metrics.ts";
import { CheckpointMismatchError, TensorLeakError, TrainingDivergedError } from "./train-errors.ts";
import { specFingerprint, type TrainSpec } from "./train-spec.ts";
import type { TrainableModel } from "./trainable-model.ts";

type TF = typeof tfjs;

export type CreateModel = (
  tf: TF,
  spec: TrainSpec,
  init: { seed: number; imageSize: number; channels: number },
) => TrainableModel;

/** The ResNet v2 of worker/model/ for the spec's `model` options. */
export const createResNetForSpec: CreateModel = (tf, spec, { seed, imageSize, channels }) => {
  const { depth, shortcutKernel, bottleneck, head } = spec.model as TrainSpec["model"] & Partial<ResNetV2Options>;
  return buildResNetV2(tf, {
    depth,
    imageSize,
    channels,
    seed,
    ...(shortcutKernel !== undefined ? { shortcutKernel } : {}),
    ...(bottleneck !== undefined ? { bottleneck } : {}),
    ...(head !== undefined ? { head } : {}),
  });
};

/** Loss and accuracy of one set of weights on the data set's test images. */
export interface TestFigures {
  acc: number;
  loss: number;
}

/**
 * Where a run's exported weights go (the worker: Postgres, worker/runner/run-models.ts). Needs a model
 * with named weights and a layer table (the ResNet of worker/model/).
 */
export interface ModelSink {
  /** A new best val_acc: that epoch's weights, stored at once so that a resumed run keeps its best. */
  saveBest(snapshot: ModelSnapshot): Promise<void>;
  /** The stored best weights by our names (a resumed run's best may be an earlier attempt's); null if none. */
  loadBest(layers: readonly LayerRow[]): Promise<{ epoch: number; weights: Map<string, Float32Array> } | null>;
  /**
   * At completion: the final weights, and when the run validated on a split of the training set, the
   * test-set figures of its final and its best weights (null otherwise; `best` null when the stored
   * best weights are not the best epoch's, see exportFinal).
   */
  saveFinal(snapshot: ModelSnapshot, test: { final: TestFigures; best: TestFigures | null } | null): Promise<void>;
}

/** Sent every `progressEvery` batches and after an epoch's last batch. */
export interface BatchProgress {
  epoch: number;
  epochs: number;
  /** Batches done in this epoch (1-based count). */
  batch: number;
  batchesPerEpoch: number;
  iteration: number;
  /** Running means over the epoch's batches so far. */
  loss: number;
  acc: number;
  lr: number;
  wd: number;
  imagesPerSec: number;
  /**
   * Seconds left in this epoch's training at the current speed (validation not included): the CLI's
   * progress bar. Not the run's ETA, which the stream messages' `etaSeconds` is (run-publisher.ts).
   */
  epochEtaSeconds: number;
}

export interface TrainRunDeps {
  /** Raw records (split and normalized here) or already prepared data. */
  data: RawDataset | PreparedData;
  /**
   * Builds the model with freshly initialized, seeded weights (a resume then overwrites them).
   * Default: the ResNet v2 of worker/model/ with the spec's model options.
   */
  createModel?: CreateModel;
  checkpoints?: CheckpointStore;
  onProgress?: (p: BatchProgress) => void | Promise<void>;
  /** Batches between progress callbacks (default 20). */
  progressEvery?: number;
  /**
   * After each epoch's validation and its checkpoint: an epoch is reported only once a resume can no
   * longer lose it.
   */
  onEpochEnd?: (metrics: EpochMetrics, summary: SeedSummary) => void | Promise<void>;
  /**
   * "Epoch done" as one durable step (the service's runner): gets the epoch's metrics with the
   * checkpoint that holds it and records both together. When set it replaces `checkpoints.save` at
   * epoch ends (`checkpoints` still loads, and saves on a stop).
   */
  commitEpoch?: (metrics: EpochMetrics, checkpoint: TrainCheckpoint) => Promise<void>;
  /** Asked between batches; "cancel" or "drain" stops after a checkpoint, false goes on. */
  shouldStop?: () => StopRequest | false | Promise<StopRequest | false>;
  /** Called once when a checkpoint was loaded, with the epochs already done. */
  onResume?: (info: { epochsDone: number; batchesDone: number; history: readonly EpochMetrics[] }) => void | Promise<void>;
  /** Milliseconds clock (default performance.now). */
  now?: () => number;
  /** Throw {@link TensorLeakError} when live tensors grow from one epoch to the next (default true). */
  leakGuard?: boolean;
  /** Receives the best epoch's and the final weights (and evaluates both on the test set at the end). */
  models?: ModelSink;
}

export interface TrainRunResult {
  status: TrainStatus;
  history: EpochMetrics[];
  summary: SeedSummary;
  epochs: number;
  stepsPerEpoch: number;
  iterations: number;
  /** The completed epochs found in the checkpoint at start (0 for a fresh run). */
  resumedFromEpoch: number;
}

export async function trainRun(tf: TF, spec: TrainSpec, deps: TrainRunDeps): Promise<TrainRunResult> {
  const now = deps.now ?? (() => performance.now());
  const progressEvery = deps.progressEvery ?? 20;
  if (!Number.isInteger(progressEvery) || progressEvery < 1) {
    throw new RangeError(`progressEvery must be a positive integer, got ${progressEvery}`);
  }
  const { batchSize } = spec;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const schedule = parseSchedule(spec.schedule);
  const wdSchedule: Schedule | null = spec.wdSchedule ? parseSchedule(spec.wdSchedule) : null;
  const epochs = lastEpoch(schedule);
  if (wdSchedule && lastEpoch(wdSchedule) !== epochs) {
    throw new RangeError(`wdSchedule must end at the LR schedule's last epoch ${epochs}, got ${lastEpoch(wdSchedule)}`);
  }
  const data = "mean" in deps.data ? deps.data : prepareData(deps.data, spec.data);
  // The test images, when validation is a split of the training set (else they are the validation set);
  // gathered only when the run ends (exportFinal), not held through training.
  const testImages = deps.models && !("mean" in deps.data) && spec.data.validation !== "test" ? deps.data.test : null;
  const nTrain = data.train.count;
  const size = data.imageSize;
  const channels = data.channels;
  const per = size * size * channels;
  const steps = Math.ceil(nTrain / batchSize);
  const lrAt = (i: number) => scheduleValueAtIteration(schedule, i, steps);
  const wdAt = (i: number) => (wdSchedule ? scheduleValueAtIteration(wdSchedule, i, steps) : lrAt(i) * spec.optimizer.lambda);
  const fingerprint = specFingerprint(spec);

  const createModel = deps.createModel ?? createResNetForSpec;
  const model = createModel(tf, spec, { seed: Rng.derive(spec.data.seed, "model"), imageSize: size, channels });
  const { beta1, beta2, epsilon } = spec.optimizer;
  const optimizer = new AdamW(tf, model.trainableVariables, {
    weightDecay: spec.optimizer.lambda,
    ...(beta1 !== undefined ? { beta1 } : {}),
    ...(beta2 !== undefined ? { beta2 } : {}),
    ...(epsilon !== undefined ? { epsilon } : {}),
  });
  const batchSteps = new ClassifierSteps(tf, model, optimizer, {
    l2: spec.optimizer.l2,
    kernels: model.regularizedKernels ?? model.trainableVariables.filter((v) => v.rank === 4),
  });
  const allVariables = [...model.trainableVariables, ...model.nonTrainableVariables];
  const models = deps.models;
  /** The best epoch's weights when this attempt trained it. */
  let bestWeights: ModelSnapshot | null = null;
  if (models && (model.weights === undefined || model.layerTable === undefined)) {
    throw new TypeError("deps.models needs a model with named weights and a layer table (the ResNet of worker/model/)");
  }
  const xBuf = new Float32Array(batchSize * per);
  const yBuf = new Int32Array(batchSize);

  try {
    let augment = new Rng(Rng.derive(spec.data.seed, "augment"));
    let history: EpochMetrics[] = [];
    let epochsDone = 0;
    let partial: PartialEpoch | null = null;
    const saved = deps.checkpoints ? await deps.checkpoints.load() : null;
    if (saved) {
      if (saved.specFingerprint !== fingerprint) {
        throw new CheckpointMismatchError(
          `the checkpoint was written for another spec (fingerprint ${saved.specFingerprint}, this spec ${fingerprint}); ` +
            "delete it or use the original spec",
        );
      }
      restoreWeights(tf, allVariables, saved.weights);
      optimizer.importState(saved.optimizer);
      augment = Rng.fromState(saved.augmentRng);
      history = saved.history.slice();
      epochsDone = saved.epochsDone;
      partial = saved.partial;
      await deps.onResume?.({ epochsDone, batchesDone: partial?.batches ?? 0, history });
    }
    const resumedFromEpoch = epochsDone;
    const expectIterations = epochsDone * steps + (partial?.batches ?? 0);
    if (optimizer.iterations !== expectIterations) {
      throw new CheckpointMismatchError(
        `the checkpoint's optimizer has taken ${optimizer.iterations} steps, its position (epoch ${epochsDone}, ` +
          `batch ${partial?.batches ?? 0}) at ${steps} steps per epoch needs ${expectIterations}`,
      );
    }

    let tensorsAfterLastEpoch: number | null = null;

    // Reads weights and moments asynchronously (no dataSync: the webgpu backend cannot read back
    // synchronously in Node); the position fields are taken before the first await.
    const checkpoint = async (augmentRng: Rng | ReturnType<Rng["getState"]>, part: PartialEpoch | null): Promise<TrainCheckpoint> => {
      const summary = summarizeEpochs(history, spec.threshold);
      const position = {
        specFingerprint: fingerprint,
        epochsDone,
        partial: part,
        augmentRng: augmentRng instanceof Rng ? augmentRng.getState() : augmentRng,
        history,
        best: summary.bestEpoch === null ? null : { epoch: summary.bestEpoch, valAcc: summary.bestValAcc! },
        thresholdEpoch: summary.thresholdEpoch,
      };
      const weights = await Promise.all(allVariables.map(async (v) =>
        ({ name: v.name, shape: [...v.shape], values: ((await v.data()) as Float32Array).slice() })));
      return { ...position, weights, optimizer: await optimizer.exportState() };
    };

    for (let epoch = epochsDone + 1; epoch <= epochs; epoch++) {
      const epochStartRng = augment.getState();
      const plan = planEpoch(augment, nTrain, { shift: spec.data.shift, flip: spec.data.flip, imageSize: size });
      const sums: PartialEpoch = partial ?? { batches: 0, lossSum: 0, correct: 0, seen: 0, seconds: 0 };
      partial = null;
      let segmentStart = now();
      const segmentSecondsBefore = sums.seconds;

      // One step stays in flight: step b is recorded (and, on a GPU, runs) while step b − 1's loss and
      // accuracy are read back, so the device never waits for the host between steps. The numbers are
      // those of the plain loop: the same steps in the same order, each accounted once it is read.
      let inFlight: QueuedStep | null = null;
      const account = async (q: QueuedStep) => {
        const [lossValue, correct] = await q.result;
        if (!Number.isFinite(lossValue)) throw new TrainingDivergedError(epoch, q.b + 1, q.iteration, lossValue);
        sums.batches = q.b + 1;
        sums.lossSum += lossValue * q.count;
        sums.correct += correct;
        sums.seen += q.count;
        if (deps.onProgress && (sums.batches % progressEvery === 0 || sums.batches === steps)) {
          const elapsed = segmentSecondsBefore + (now() - segmentStart) / 1000;
          const segmentBatches = sums.batches;
          const secPerBatch = elapsed / Math.max(1, segmentBatches);
          await deps.onProgress({
            epoch,
            epochs,
            batch: sums.batches,
            batchesPerEpoch: steps,
            iteration: q.iteration + 1,
            loss: sums.lossSum / sums.seen,
            acc: sums.correct / sums.seen,
            lr: q.lr,
            wd: q.decay,
            imagesPerSec: elapsed > 0 ? sums.seen / elapsed : 0,
            epochEtaSeconds: secPerBatch * (steps - sums.batches),
          });
        }
      };
      try {
        for (let b = sums.batches; b < steps; b++) {
          const stop = deps.shouldStop ? await deps.shouldStop() : false;
          if (stop) {
            if (inFlight) await account(inFlight);
            inFlight = null;
            sums.seconds = segmentSecondsBefore + (now() - segmentStart) / 1000;
            if (deps.checkpoints) await deps.checkpoints.save(await checkpoint(epochStartRng, b === 0 ? null : { ...sums }));
            return finish(stop === "cancel" ? "cancelled" : "drained");
          }
          const start = b * batchSize;
          const count = Math.min(batchSize, nTrain - start);
          fillTrainBatch(data, plan, start, count, xBuf, yBuf);
          const iteration = (epoch - 1) * steps + b;
          const lr = lrAt(iteration);
          const decay = wdAt(iteration);
          const queued: QueuedStep = { b, count, iteration, lr, decay, result: trainStep(count, lr, decay) };
          queued.result.catch(() => {}); // awaited by account(); this only marks a failure as handled meanwhile
          const previous = inFlight;
          inFlight = queued;
          if (previous) await account(previous);
          // Let timers and sockets (heartbeats, streaming) run between batches.
          await new Promise<void>((r) => setImmediate(r));
        }
        if (inFlight) await account(inFlight);
        inFlight = null;
      } finally {
        // Thrown out of the loop (divergence, a failing callback): the step in flight is still read, so
        // its tensors are disposed before the model is.
        if (inFlight) await inFlight.result.catch(() => {});
      }
      const trainSeconds = segmentSecondsBefore + (now() - segmentStart) / 1000;
      const validation = await evaluate();
      const seconds = trainSeconds + validation.seconds;
      const endIteration = epoch * steps;
      const metrics: EpochMetrics = {
        epoch,
        loss: sums.lossSum / sums.seen,
        acc: sums.correct / sums.seen,
        valLoss: validation.loss,
        valAcc: validation.acc,
        lr: lrAt(endIteration),
        wd: wdAt(endIteration),
        seconds,
        imagesPerSec: trainSeconds > 0 ? nTrain / trainSeconds : 0,
        iterations: endIteration,
      };
      history.push(metrics);
      epochsDone = epoch;
      const summary = summarizeEpochs(history, spec.threshold);
      // Before the epoch is committed: a crash in between retrains this epoch and stores the same best
      // again, whereas after the commit a resumed run would never store this epoch's weights.
      if (models && summary.bestEpoch === epoch) await models.saveBest(bestWeights = await snapshot(metrics));
      if (deps.commitEpoch) await deps.commitEpoch(metrics, await checkpoint(augment, null));
      else if (deps.checkpoints) await deps.checkpoints.save(await checkpoint(augment, null));
      await deps.onEpochEnd?.(metrics, summary);
      segmentStart = now();

      if (deps.leakGuard !== false) {
        const live = tf.memory().numTensors;
        if (tensorsAfterLastEpoch !== null && live > tensorsAfterLastEpoch) {
          throw new TensorLeakError(epoch, tensorsAfterLastEpoch, live);
        }
        tensorsAfterLastEpoch = live;
      }
    }
    if (models && history.length > 0) await exportFinal(models, history);
    return finish("completed");

    function finish(status: TrainRunResult["status"]): TrainRunResult {
      return {
        status,
        history,
        summary: summarizeEpochs(history, spec.threshold),
        epochs,
        stepsPerEpoch: steps,
        iterations: optimizer.iterations,
        resumedFromEpoch,
      };
    }
  } finally {
    optimizer.dispose();
    model.dispose();
  }

  /** The model's weights now, by name, labelled with the epoch's figures. */
  async function snapshot(m: EpochMetrics): Promise<ModelSnapshot> {
    // data(), not dataSync(): webgpu cannot read back synchronously in Node.
    const values = await Promise.all(model.weights!.map((w) => w.variable.data() as Promise<Float32Array>));
    const weights = new Map(model.weights!.map((w, i) => [w.name, values[i]!.slice()]));
    return { epoch: m.epoch, valAcc: m.valAcc, valLoss: m.valLoss, layers: model.layerTable!(), weights, mean: data.mean };
  }

  /**
   * Stores the final weights; with a test set, first evaluates them and the best epoch's weights on it
   * (the best ones come from memory when this attempt trained them, else from the store).
   */
  async function exportFinal(sink: ModelSink, done: readonly EpochMetrics[]): Promise<void> {
    const last = done[done.length - 1]!;
    const final = await snapshot(last);
    let test: { final: TestFigures; best: TestFigures | null } | null = null;
    const testTable: ImageTable | null = testImages === null ? null : gatherHWC(testImages);
    if (testTable !== null) {
      const finalFigures = await evaluate(testTable);
      const bestEpoch = summarizeEpochs(done, spec.threshold).bestEpoch!;
      let bestFigures: TestFigures | null = finalFigures;
      if (bestEpoch !== last.epoch) {
        const stored = bestWeights?.epoch === bestEpoch ? bestWeights : await sink.loadBest(final.layers);
        // The stored best can belong to another epoch only when an attempt that lost its lease stored a
        // best this run's history does not have (it retrained that epoch on another backend, with other
        // figures). The run's own figures stand; the export must not fail a finished run: the best
        // weights (labelled with their own epoch) then go without test figures.
        if (stored !== null && stored.epoch === bestEpoch) {
          for (const w of model.weights!) {
            const values = stored.weights.get(w.name);
            if (values === undefined) throw new Error(`the stored best weights lack ${w.name}`);
            tf.tidy(() => w.variable.assign(tf.tensor(values, w.variable.shape, "float32")));
          }
          bestFigures = await evaluate(testTable);
        } else bestFigures = null;
      }
      test = {
        final: { acc: finalFigures.acc, loss: finalFigures.loss },
        best: bestFigures && { acc: bestFigures.acc, loss: bestFigures.loss },
      };
    }
    await sink.saveFinal(final, test);
  }

  /** A training step recorded on the backend whose loss and correct count are still to be read. */
  interface QueuedStep {
    b: number;
    count: number;
    iteration: number;
    lr: number;
    decay: number;
    result: Promise<[number, number]>;
  }

  /**
   * One AdamW step on the batch in xBuf/yBuf; returns the batch's loss (with the l2 term) and correct
   * count. Everything up to the readback runs before the first await, so the batch buffers may be
   * refilled as soon as this returns its promise.
   */
  async function trainStep(count: number, lr: number, decay: number): Promise<[number, number]> {
    const { loss, correct } = tf.tidy(() => {
      const x = tf.tensor4d(xBuf.subarray(0, count * per), [count, size, size, channels]);
      const y = tf.tensor1d(yBuf.subarray(0, count), "int32");
      return batchSteps.train(x, y, { lr, decay });
    });
    try {
      const [l, k] = await Promise.all([loss.data(), correct.data()]);
      return [l[0]!, k[0]!];
    } finally {
      loss.dispose();
      correct.dispose();
    }
  }

  /** Loss (with the l2 penalty, as Keras's) and accuracy in inference mode on `table` (default: validation). */
  async function evaluate(table: ImageTable = data.validation): Promise<{ loss: number; acc: number; seconds: number }> {
    const t0 = now();
    let lossSum = 0;
    let correct = 0;
    const n = table.count;
    for (let start = 0; start < n; start += batchSize) {
      const count = Math.min(batchSize, n - start);
      fillEvalBatch(table, data.mean, start, count, xBuf, yBuf);
      const out = tf.tidy(() =>
        batchSteps.test(
          tf.tensor4d(xBuf.subarray(0, count * per), [count, size, size, channels]),
          tf.tensor1d(yBuf.subarray(0, count), "int32"),
        )
      );
      const v = await out.data();
      out.dispose();
      lossSum += v[0]!;
      correct += v[1]!;
      await new Promise<void>((r) => setImmediate(r));
    }
    return { loss: lossSum / n + await batchSteps.penalty(), acc: correct / n, seconds: (now() - t0) / 1000 };
  }
}

function restoreWeights(tf: TF, variables: readonly tfjs.Variable[], saved: readonly SavedTensor[]): void {
  if (saved.length !== variables.length) {
    throw new CheckpointMismatchError(`the checkpoint has ${saved.length} tensors, the model ${variables.length} variables`);
  }
  variables.forEach((v, i) => {
    const s = saved[i]!;
    if (s.shape.length !== v.shape.length || s.shape.some((d, j) => d !== v.shape[j])) {
      throw new CheckpointMismatchError(`checkpoint tensor ${i} (${s.name}) has shape [${s.shape}], the model's ${v.name} [${v.shape}]`);
    }
    tf.tidy(() => v.assign(tf.tensor(s.values, v.shape, "float32")));
  });
}
