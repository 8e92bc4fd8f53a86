import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { parseSchedule, scheduleValueAtIteration } from "../../shared/schedule/mod.ts";
import { loadRawDataset } from "../data/load-dataset.ts";
import { prepareData, type DataOptions } from "../data/prepare-data.ts";
import { memoryCheckpointStore } from "./checkpoint.ts";
import type { EpochMetrics } from "./metrics.ts";
import { createTinyModel } from "./test-fixtures/tiny-model.ts";
import { CheckpointMismatchError, TensorLeakError, TrainingDivergedError } from "./train-errors.ts";
import { trainRun, type BatchProgress, type TrainRunDeps } from "./train-run.ts";
import type { TrainSpec } from "./train-spec.ts";

await tf.setBackend("cpu");

const dataOptions: DataOptions = {
  dataset: "synthetic", trainSize: 240, imageSize: 4, validationSize: 40, stratified: true, seed: 1, shift: 0.1, flip: true,
};
const raw = await loadRawDataset(dataOptions);
const data = prepareData(raw, dataOptions);

function makeSpec(overrides: Partial<TrainSpec> = {}): TrainSpec {
  return {
    name: "tiny",
    model: { depth: 11 },
    data: dataOptions,
    optimizer: { alpha: 1e-2, lambda: 0.1, l2: 1e-4 },
    batchSize: 32,
    schedule: "[1e-2, 0]lin[1e-2, 2]cos[1e-3, 4]",
    threshold: 0.5,
    ...overrides,
  };
}

const deps = (extra: Partial<TrainRunDeps> = {}): TrainRunDeps => ({ data, createModel: createTinyModel, ...extra });
/** Metrics without the wall-clock fields, which differ between runs. */
const numbers = (h: EpochMetrics[]) => h.map(({ seconds: _s, imagesPerSec: _i, ...rest }) => rest);

test("trainRun() reports one Keras-style row per epoch with the schedule's lr and lr·λ at the epoch's end", async () => {
  const before = tf.memory().numTensors;
  const progress: BatchProgress[] = [];
  const ended: number[] = [];
  const spec = makeSpec();
  const r = await trainRun(tf, spec, deps({ progressEvery: 3, onProgress: (p) => void progress.push(p), onEpochEnd: (m) => void ended.push(m.epoch) }));
  assert.equal(tf.memory().numTensors, before, "the run disposes everything it made");
  assert.equal(r.status, "completed");
  assert.equal(r.stepsPerEpoch, 7); // ceil(200 / 32): the last batch has 8 images
  assert.equal(r.iterations, 28);
  assert.deepEqual(r.history.map((m) => m.epoch), [1, 2, 3, 4]);
  assert.deepEqual(ended, [1, 2, 3, 4]);
  const s = parseSchedule(spec.schedule);
  for (const m of r.history) {
    assert.equal(m.lr, scheduleValueAtIteration(s, m.epoch * 7, 7));
    assert.equal(m.wd, m.lr * 0.1);
    assert.ok(m.loss > 0 && m.valLoss > 0 && m.acc >= 0 && m.acc <= 1 && m.valAcc >= 0 && m.valAcc <= 1);
    assert.ok(m.seconds > 0 && m.imagesPerSec > 0);
    // acc and val_acc are means over 200 and 40 images.
    assert.ok(Number.isInteger(Math.round(m.acc * 200 * 1e6) / 1e6) && Number.isInteger(Math.round(m.valAcc * 40 * 1e6) / 1e6));
  }
  assert.ok(r.history[3]!.loss < r.history[0]!.loss, "the loss goes down");
  // Progress every 3 batches and at the epoch's end: batches 3, 6, 7.
  assert.deepEqual(progress.filter((p) => p.epoch === 1).map((p) => p.batch), [3, 6, 7]);
  const p = progress[0]!;
  assert.equal(p.batchesPerEpoch, 7);
  assert.equal(p.lr, scheduleValueAtIteration(s, 2, 7));
  assert.ok(p.epochEtaSeconds >= 0 && p.imagesPerSec > 0);
  assert.equal(progress.at(-1)!.epochEtaSeconds, 0);
  // The summary is the seed's table row.
  const hit = r.history.find((m) => m.valAcc >= 0.5) ?? null;
  assert.equal(r.summary.thresholdEpoch, hit?.epoch ?? null);
  assert.equal(r.summary.bestValAcc, Math.max(...r.history.map((m) => m.valAcc)));
  assert.equal(r.summary.finalLoss, r.history[3]!.loss);
});

test("trainRun() is deterministic for fixed seeds", async () => {
  const a = await trainRun(tf, makeSpec(), deps());
  const b = await trainRun(tf, makeSpec(), deps());
  assert.deepEqual(numbers(a.history), numbers(b.history));
});

test("trainRun() stopped mid-epoch (drain) and resumed gives the same metrics and weights as a straight run", async () => {
  const straightStore = memoryCheckpointStore();
  const straight = await trainRun(tf, makeSpec(), deps({ checkpoints: straightStore }));
  assert.equal(straightStore.saves, 4);

  const store = memoryCheckpointStore();
  let batches = 0;
  const first = await trainRun(tf, makeSpec(), deps({ checkpoints: store, shouldStop: () => (++batches === 11 ? "drain" : false) }));
  assert.equal(first.status, "drained");
  assert.equal(first.history.length, 1);
  const mid = await store.load();
  assert.equal(mid!.epochsDone, 1);
  assert.equal(mid!.partial!.batches, 3);
  let resumedAt: number | null = null;
  const second = await trainRun(tf, makeSpec(), deps({ checkpoints: store, onResume: (i) => void (resumedAt = i.batchesDone) }));
  assert.equal(resumedAt, 3);
  assert.equal(second.status, "completed");
  assert.equal(second.resumedFromEpoch, 1);
  assert.deepEqual(numbers(second.history), numbers(straight.history));
  const [x, y] = [await straightStore.load(), await store.load()];
  assert.deepEqual(y!.weights.map((w) => Array.from(w.values)), x!.weights.map((w) => Array.from(w.values)));
  assert.deepEqual(y!.optimizer, x!.optimizer);
  assert.deepEqual(y!.augmentRng, x!.augmentRng);
});

test("trainRun() stopped at an epoch boundary (cancel) resumes exactly too", async () => {
  const straight = await trainRun(tf, makeSpec(), deps());
  const store = memoryCheckpointStore();
  let calls = 0;
  const first = await trainRun(tf, makeSpec(), deps({ checkpoints: store, shouldStop: () => (++calls === 15 ? "cancel" : false) }));
  assert.equal(first.status, "cancelled");
  const saved = await store.load();
  assert.equal(saved!.epochsDone, 2);
  assert.equal(saved!.partial, null);
  const second = await trainRun(tf, makeSpec(), deps({ checkpoints: store }));
  assert.deepEqual(numbers(second.history), numbers(straight.history));
});

test("trainRun() refuses a checkpoint written for another spec", async () => {
  const store = memoryCheckpointStore();
  await trainRun(tf, makeSpec(), deps({ checkpoints: store, shouldStop: () => "drain" }));
  await assert.rejects(
    trainRun(tf, makeSpec({ optimizer: { alpha: 1e-2, lambda: 0.2, l2: 1e-4 } }), deps({ checkpoints: store })),
    CheckpointMismatchError,
  );
  // The name is not part of the fingerprint.
  const r = await trainRun(tf, makeSpec({ name: "renamed" }), deps({ checkpoints: store }));
  assert.equal(r.status, "completed");
});

test("trainRun() throws a typed diverged error when the loss is NaN", async () => {
  const before = tf.memory().numTensors;
  const nanModel: TrainRunDeps["createModel"] = (t, spec, init) => {
    const m = createTinyModel(t, spec, init);
    let calls = 0;
    return { ...m, forward: (x, o) => t.tidy(() => (++calls === 4 ? t.mul(m.forward(x, o), NaN) : m.forward(x, o))) };
  };
  await assert.rejects(trainRun(tf, makeSpec(), deps({ createModel: nanModel })), (e: unknown) => {
    assert.ok(e instanceof TrainingDivergedError);
    assert.equal(e.code, "diverged");
    assert.equal(e.epoch, 1);
    assert.equal(e.batch, 4);
    assert.match(e.message, /loss is NaN at epoch 1, batch 4/);
    return true;
  });
  assert.equal(tf.memory().numTensors, before, "model and optimizer are disposed on failure");
});

test("trainRun()'s leak guard catches a model that leaks tensors", async () => {
  const leaky: TrainRunDeps["createModel"] = (t, spec, init) => {
    const m = createTinyModel(t, spec, init);
    const leaked: tf.Tensor[] = [];
    return {
      ...m,
      forward: (x, o) => {
        leaked.push(t.keep(t.scalar(1)));
        return m.forward(x, o);
      },
      dispose: () => {
        m.dispose();
        t.dispose(leaked);
      },
    };
  };
  await assert.rejects(trainRun(tf, makeSpec(), deps({ createModel: leaky })), (e: unknown) => e instanceof TensorLeakError && e.epoch === 2);
});
