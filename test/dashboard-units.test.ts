// The dashboard's pure parts, without a browser: the seed's summary columns, live summary updates,
// the submit form's sweep planning, the schedule curves, overlay alignment and the ETA.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSchedule, scheduleValueAtIteration } from "../shared/schedule/mod.ts";
import type { EpochRow, Run } from "../web/src/api-types.ts";
import { overlayData } from "../web/src/charts/overlay.ts";
import { scheduleSeries } from "../web/src/charts/schedule-series.ts";
import { runProgress } from "../web/src/run-progress.ts";
import { applyEpoch, summarizeMetrics, upsertEpoch } from "../web/src/run-summary.ts";
import { planForm } from "../web/src/spec-form.ts";

const row = (epoch: number, valAcc: number, loss = 1 / epoch): EpochRow => ({ epoch, loss, acc: valAcc + 0.01, valLoss: loss * 1.1, valAcc });

test("summarizeMetrics() gives the seed's columns: first passing epoch, first best, last epoch's losses", () => {
  const rows = [row(1, 0.5), row(2, 0.921), row(3, 0.93), row(4, 0.93), row(5, 0.91)];
  const s = summarizeMetrics([...rows].reverse(), 0.92);
  assert.equal(s.thresholdEpoch, 2);
  assert.equal(s.accVal, 0.921);
  assert.equal(s.acc, 0.931);
  assert.equal(s.bestEpoch, 3);
  assert.equal(s.bestValAcc, 0.93);
  assert.equal(s.finalLoss, 1 / 5);
  assert.equal(s.epochsDone, 5);
});

test("summarizeMetrics() leaves the threshold columns empty when val_acc never reaches it", () => {
  const s = summarizeMetrics([row(1, 0.5), row(2, 0.6)], 0.92);
  assert.equal(s.thresholdEpoch, null);
  assert.equal(s.accVal, null);
  assert.equal(s.bestEpoch, 2);
});

test("summarizeMetrics() keeps the run's test-set figures (no epoch carries them) and the runs table shows them", async () => {
  const kept = { bestTestAcc: 0.9211, bestTestLoss: 0.24, finalTestAcc: 0.9187, finalTestLoss: 0.25 };
  const s = summarizeMetrics([row(1, 0.5), row(2, 0.93)], 0.92, kept);
  assert.deepEqual({ bestTestAcc: s.bestTestAcc, bestTestLoss: s.bestTestLoss, finalTestAcc: s.finalTestAcc, finalTestLoss: s.finalTestLoss }, kept);
  assert.equal(summarizeMetrics([row(1, 0.5)], 0.92).bestTestAcc, null);
  const { COLUMNS } = await import("../web/src/views/run-columns.ts");
  const column = COLUMNS.find((c) => c.key === "bestTestAcc");
  assert.ok(column, "a test acc column");
  assert.equal(column.sortValue({ summary: s } as Run, undefined), 0.9211);
});

test("applyEpoch() one epoch at a time, in any order, equals summarizeMetrics() over all", () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(rand() * 12);
    const rows = Array.from({ length: n }, (_, i) => row(i + 1, Math.round(rand() * 100) / 100));
    const shuffled = [...rows].sort(() => rand() - 0.5);
    const empty = summarizeMetrics([], 0.5);
    const incremental = shuffled.reduce((s, r) => applyEpoch(s, r, 0.5), empty);
    assert.deepEqual(incremental, summarizeMetrics(rows, 0.5));
  }
});

test("upsertEpoch() keeps epochs sorted and replaces a replayed epoch", () => {
  const list = [row(1, 0.1), row(3, 0.3)];
  upsertEpoch(list, row(2, 0.2));
  upsertEpoch(list, row(3, 0.35));
  assert.deepEqual(list.map((r) => [r.epoch, r.valAcc]), [[1, 0.1], [2, 0.2], [3, 0.35]]);
});

test("planForm() turns listed values into a sweep grid and leaves empty fields to the defaults", () => {
  const plan = planForm({
    name: "t3",
    schedule: "[1e-3, 0]cos[1e-5, 30]\n[8e-4, 0]cos[1e-5, 30]",
    "optimizer.lambda": "0.1, 0.15 0.2",
    "optimizer.l2": "",
    "data.dataset": "cifar10",
    "data.trainSize": "256",
    "data.flip": "true",
    "data.stratified": "false",
    tags: "table3, cos",
  });
  assert.deepEqual(plan.grid, { schedule: ["[1e-3, 0]cos[1e-5, 30]", "[8e-4, 0]cos[1e-5, 30]"], "optimizer.lambda": [0.1, 0.15, 0.2] });
  assert.equal(plan.count, 6);
  assert.equal(plan.specs.length, 6);
  // trainSize is synthetic-only, flip=true is the default: neither is sent.
  assert.deepEqual(plan.baseSpec, {
    name: "t3",
    tags: ["table3", "cos"],
    schedule: "[1e-3, 0]cos[1e-5, 30]",
    optimizer: { lambda: 0.1 },
    data: { dataset: "cifar10", stratified: false },
  });
  assert.deepEqual((plan.specs[5]!.spec as { optimizer: unknown }).optimizer, { lambda: 0.2 });
});

test("planForm() passes text that is not a number on, for the schema to name", () => {
  const plan = planForm({ schedule: "[1e-3, 0]cos[1e-5, 30]", "optimizer.lambda": "abc" });
  assert.deepEqual(plan.baseSpec.optimizer, { lambda: "abc" });
});

test("scheduleSeries() samples the shared evaluator, keeps every knot, and couples WD = LR·λ", () => {
  const text = "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]";
  const s = scheduleSeries(text, 625, { lambda: 0.15 }, 500);
  const schedule = parseSchedule(text);
  assert.ok(s.iterations.length <= 505);
  for (const knotIt of [0, 14 * 625, 24 * 625, 34 * 625]) assert.ok(s.iterations.includes(knotIt), `knot ${knotIt}`);
  s.iterations.forEach((it, k) => {
    assert.equal(s.lr[k], scheduleValueAtIteration(schedule, it, 625));
    assert.equal(s.wd[k], s.lr[k]! * 0.15);
  });
  assert.equal(s.totalIterations, 21_250);
});

test("overlayData() aligns runs of different lengths on one epoch axis", () => {
  const data = overlayData([[row(1, 0.1), row(2, 0.2)], [row(1, 0.3)], []], "valAcc");
  assert.deepEqual(data, [[1, 2], [0.1, 0.2], [0.3, null], [null, null]]);
});

test("runProgress() estimates the time left from the live throughput", () => {
  const run = { state: "running", epochs: 10, startedAt: null, spec: { batchSize: 64 }, summary: { epochsDone: 2 } } as unknown as Run;
  const p = runProgress(run, { epoch: 3, batch: 50, batchesPerEpoch: 100, imagesPerSec: 640, loss: 1, acc: 0.5, lr: 1e-3, etaSeconds: 0, receivedAt: 0 }, 0);
  assert.equal(p.fraction, 0.25);
  // 7.5 epochs × 100 batches × 64 images ÷ 640 images/s
  assert.equal(p.etaSeconds, 75);
});
