import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRunSpec } from "../../shared/run-spec.ts";
import { loadRawDataset } from "../data/load-dataset.ts";
import { selectBackend } from "../tf/select-backend.ts";
import type { EpochMetrics } from "./metrics.ts";
import { trainRun } from "./train-run.ts";

test("a ResNet v2 of depth 11 learns the synthetic set to val_acc ≥ 0.9 within 4 epochs (wasm backend)", async (t) => {
  // Needs two epochs at ~50 img/s: about 10 s of CPU.
  const { tf } = await selectBackend("wasm", { log: () => {} });
  const parsed = parseRunSpec({
    model: { depth: 11 },
    data: { dataset: "synthetic", trainSize: 500, imageSize: 16, validationSize: 100 },
    optimizer: { lambda: 0.05 },
    batchSize: 32,
    schedule: "[2e-3, 0]lin[2e-3, 3]cos[2e-4, 4]",
    threshold: 0.9,
  });
  assert.ok(parsed.ok);
  const spec = parsed.spec;
  const epochs: EpochMetrics[] = [];
  const live: number[] = [];
  let reached = false;
  const before = tf.memory().numTensors;
  const result = await trainRun(tf, spec, {
    data: await loadRawDataset(spec.data),
    onEpochEnd: (m) => {
      epochs.push(m);
      live.push(tf.memory().numTensors);
      reached ||= m.valAcc >= 0.9;
    },
    // Once there, stop: the rest of the schedule would only cost CI time.
    shouldStop: () => (reached ? "cancel" : false),
  });
  const table = epochs.map((m) => `epoch ${m.epoch}: loss ${m.loss.toFixed(4)} acc ${m.acc.toFixed(3)} val_acc ${m.valAcc.toFixed(3)} ${m.imagesPerSec.toFixed(1)} img/s`).join("\n");
  for (const line of table.split("\n")) t.diagnostic(line);
  assert.ok(result.summary.thresholdEpoch !== null, `val_acc never reached 0.9:\n${table}`);
  assert.ok(result.summary.thresholdEpoch <= 4);
  assert.ok(epochs[0]!.loss > epochs.at(-1)!.loss, `the loss must fall:\n${table}`);
  assert.ok(live.every((n) => n === live[0]), `live tensors must stay flat from epoch to epoch: ${live}`);
  assert.equal(tf.memory().numTensors, before, "the run leaves no tensor behind");
});
