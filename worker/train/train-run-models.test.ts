// The training loop's exported weights: the best epoch's weights are handed over whenever a new best
// val_acc appears, the final ones at completion together with both weights' test-set figures; a run
// stopped and resumed by another "worker" (a new trainRun over the same stores) gets its best from the
// store and ends with exactly the figures of an uninterrupted run.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRunSpec } from "../../shared/run-spec.ts";
import { loadRawDataset } from "../data/load-dataset.ts";
import type { ModelSnapshot } from "../model/export-run-model.ts";
import { selectBackend } from "../tf/select-backend.ts";
import type { CheckpointStore, TrainCheckpoint } from "./checkpoint.ts";
import { type ModelSink, type TestFigures, trainRun } from "./train-run.ts";

/** A store like the worker's run_models rows: best replaced on each new best, final at the end. */
function memorySink() {
  const saved = {
    best: [] as number[],
    bestWeights: null as ModelSnapshot | null,
    final: null as { snapshot: ModelSnapshot; test: { final: TestFigures; best: TestFigures | null } | null } | null,
    loads: 0,
  };
  const sink: ModelSink = {
    saveBest: async (s) => {
      saved.best.push(s.epoch);
      saved.bestWeights = s;
    },
    loadBest: async () => {
      saved.loads++;
      return saved.bestWeights && { epoch: saved.bestWeights.epoch, weights: new Map(saved.bestWeights.weights) };
    },
    saveFinal: async (snapshot, test) => {
      saved.final = { snapshot, test };
    },
  };
  return { sink, saved };
}

function memoryCheckpoints(): CheckpointStore {
  let last: TrainCheckpoint | null = null;
  return { load: async () => last, save: async (c) => void (last = structuredClone(c)) };
}

test("best weights on each new best, final weights with both test figures; a resumed run reuses the stored best", async () => {
  const { tf } = await selectBackend("wasm", { log: () => {} });
  const parsed = parseRunSpec({
    model: { depth: 11 },
    data: { dataset: "synthetic", trainSize: 200, imageSize: 8, validationSize: 50, shift: 0, flip: false },
    batchSize: 25,
    // Learns for two epochs, then an LR far too high for Adam spoils the last one: best ≠ final.
    schedule: "[5e-3, 0]lin[5e-3, 2]lin[5e-1, 3]",
  });
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.issues));
  const spec = parsed.spec;
  const data = await loadRawDataset(spec.data);

  const straight = memorySink();
  const whole = await trainRun(tf, spec, { data, models: straight.sink });
  const history = whole.history.map((m) => `epoch ${m.epoch}: val_acc ${m.valAcc}`).join(", ");
  assert.ok(whole.summary.bestEpoch! < 3, `the schedule must make the last epoch worse than the best: ${history}`);
  // Each new best was handed over at its epoch, in order; the store holds the best epoch's weights.
  const newBests = whole.history.filter((m, i) => whole.history.slice(0, i).every((p) => m.valAcc > p.valAcc)).map((m) => m.epoch);
  assert.deepEqual(straight.saved.best, newBests);
  assert.equal(straight.saved.bestWeights!.epoch, whole.summary.bestEpoch);
  assert.equal(straight.saved.bestWeights!.valAcc, whole.summary.bestValAcc);
  assert.equal(straight.saved.loads, 0, "the best epoch was trained by this run: kept in memory");
  const final = straight.saved.final!;
  assert.equal(final.snapshot.epoch, 3);
  assert.ok(final.test !== null, "validation is a split: the test set is evaluated");
  assert.notDeepEqual(final.test.best, final.test.final);
  for (const f of [final.test.best, final.test.final]) assert.ok(f !== null && f.acc >= 0 && f.acc <= 1 && Number.isFinite(f.loss));
  assert.deepEqual(final.snapshot.mean.length, 8 * 8 * 3);

  // Stop after epoch 2 (the best is then stored), resume in a fresh trainRun with no memory of it.
  const checkpoints = memoryCheckpoints();
  const resumed = memorySink();
  let epochsSeen = 0;
  const first = await trainRun(tf, spec, {
    data,
    checkpoints,
    models: resumed.sink,
    onEpochEnd: () => void epochsSeen++,
    shouldStop: () => (epochsSeen >= 2 ? "drain" : false),
  });
  assert.equal(first.status, "drained");
  assert.equal(resumed.saved.final, null);
  const second = await trainRun(tf, spec, { data, checkpoints, models: resumed.sink });
  assert.equal(second.status, "completed");
  assert.equal(resumed.saved.loads, 1, "the resumed run read its best from the store");
  assert.deepEqual(resumed.saved.final!.test, final.test, "same test figures as the uninterrupted run");
  assert.deepEqual(resumed.saved.final!.snapshot.weights, final.snapshot.weights);

  // A stored best from another epoch (a lost attempt's, retrained differently): the run still
  // completes, with the final figures, and no test figures for the mislabelled best.
  const stale = memorySink();
  const staleCheckpoints = memoryCheckpoints();
  epochsSeen = 0;
  await trainRun(tf, spec, {
    data, checkpoints: staleCheckpoints, models: stale.sink,
    onEpochEnd: () => void epochsSeen++,
    shouldStop: () => (epochsSeen >= 2 ? "drain" : false),
  });
  stale.saved.bestWeights = { ...stale.saved.bestWeights!, epoch: 3 - stale.saved.bestWeights!.epoch };
  const done = await trainRun(tf, spec, { data, checkpoints: staleCheckpoints, models: stale.sink });
  assert.equal(done.status, "completed");
  assert.deepEqual(stale.saved.final!.test, { final: final.test.final, best: null });

  // Validation on the test set itself: no separate test figures.
  const onTest = parseRunSpec({ ...spec, data: { ...spec.data, validation: "test", validationSize: undefined } });
  assert.ok(onTest.ok, JSON.stringify(!onTest.ok && onTest.issues));
  const testSink = memorySink();
  await trainRun(tf, { ...onTest.spec, schedule: "[5e-3, 0]lin[5e-3, 1]" }, { data, models: testSink.sink });
  assert.equal(testSink.saved.final!.test, null);
});
