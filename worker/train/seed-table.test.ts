import { test } from "node:test";
import assert from "node:assert/strict";
import type { EpochMetrics } from "./metrics.ts";
import { formatBytes, formatDuration, formatProgressBar } from "./progress-bar.ts";
import { formatCsvRow, formatEpochRow, formatSummaryTable } from "./seed-table.ts";
import { summarizeEpochs } from "../../shared/run-summary.ts";
import type { TrainSpec } from "./train-spec.ts";

const row = (epoch: number, valAcc: number, acc = 0.95): EpochMetrics => ({
  epoch, loss: 0.1234567, acc, valLoss: 0.2317, valAcc, lr: 1e-3, wd: 1.5e-4, seconds: 75, imagesPerSec: 533.33, iterations: epoch * 625,
});

test("summarizeEpochs() finds the first epoch at the threshold and the best val_acc (first on ties)", () => {
  const s = summarizeEpochs([row(1, 0.5), row(2, 0.9231, 0.959), row(3, 0.9257), row(4, 0.9257), row(5, 0.91)], 0.92);
  assert.deepEqual(
    [s.thresholdEpoch, s.accVal, s.acc, s.bestEpoch, s.bestValAcc, s.finalLoss, s.finalValLoss],
    [2, 0.9231, 0.959, 3, 0.9257, 0.1234567, 0.2317],
  );
  const none = summarizeEpochs([row(1, 0.5)], 0.92);
  assert.equal(none.thresholdEpoch, null);
  assert.equal(summarizeEpochs([], 0.92).bestEpoch, null);
});

test("formatSummaryTable() writes the seed's table (the API report's header and formats; no test figures)", () => {
  const spec: TrainSpec = {
    model: { depth: 56 },
    data: { dataset: "cifar10", validationSize: 10000, stratified: true, seed: 1, shift: 0.07, flip: true },
    optimizer: { alpha: 1e-3, lambda: 0.15, l2: 0 },
    batchSize: 64,
    schedule: "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]",
    threshold: 0.92,
  };
  const s = summarizeEpochs([row(23, 0.9231, 0.959), row(29, 0.9257)], 0.92);
  const [header, , line] = formatSummaryTable("17", spec, s).split("\n");
  assert.equal(
    header,
    "| # | epoch | acc_val | acc | epo best | val acc best | final loss | final val loss | test acc best | test acc final | shift | l2 | λ | α | LR reduction model |",
  );
  assert.equal(
    line,
    "| 17 | 23 | 0.92310 | 0.9590 | 29 | 0.92570 | 0.1235 | 0.2317 | – | – | 0.07 | 0.0 | 0.15 | 1e-3 | [1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34] |",
  );
  const missed = formatSummaryTable("x", { ...spec, optimizer: { alpha: 1e-3, lambda: 0.125, l2: 5e-4 }, wdSchedule: "[1e-4, 0]lin[1e-4, 34]" }, summarizeEpochs([row(1, 0.5)], 0.92));
  const cells = missed.split("\n")[2]!.split(" | ");
  assert.equal(cells.slice(1, 4).join(","), "–,–,–");
  // λ and l2 keep the digits they have; a separate WD schedule follows the LR schedule.
  assert.deepEqual(cells.slice(11, 13), ["0.0005", "0.125"]);
  assert.match(missed, /\[6e-6, 34\] wd \[1e-4, 0\]lin\[1e-4, 34\] \|$/m);
});

test("formatEpochRow(), formatCsvRow() and the progress bar", () => {
  assert.equal(formatEpochRow(row(7, 0.91234)), "    7 | 0.1235 | 0.9500 | 0.2317 | 0.91234 | 1.000e-3 | 1.500e-4 | 1:15 | 533.3 |");
  assert.equal(formatCsvRow(row(7, 0.5)), "7,0.1234567,0.95,0.2317,0.5,0.001,0.00015,75.000,533.33");
  assert.equal(formatProgressBar({ done: 5, total: 10, width: 10, prefix: "epoch 1/3", etaSeconds: 62 }), "epoch 1/3 [#####.....]  50% 5/10 ETA 1:02");
  assert.equal(formatProgressBar({ done: 2048, total: null }), "2048");
  assert.equal(formatDuration(3725), "1:02:05");
  assert.equal(formatBytes(1536), "1.5 KiB");
});
