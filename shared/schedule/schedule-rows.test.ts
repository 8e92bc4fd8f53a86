import assert from "node:assert/strict";
import { scheduleValueAtIteration } from "./evaluate-schedule.ts";
import { parseSchedule } from "./parse-schedule.ts";
import { scheduleRows } from "./schedule-rows.ts";

const EXAMPLE = parseSchedule("[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]");

Deno.test("scheduleRows() yields every iteration 0..lastEpoch·N−1 of the design's example at N = 625", () => {
  const rows = [...scheduleRows(EXAMPLE, 625)];
  assert.equal(rows.length, 21250);
  assert.deepEqual(rows[0], { iteration: 0, epoch: 0, lr: 1e-3 });
  assert.deepEqual(rows[8750], { iteration: 8750, epoch: 14, lr: 1e-3 });
  assert.deepEqual(rows[11875], { iteration: 11875, epoch: 19, lr: 0.0007100357133746822 });
  assert.deepEqual(rows[15000], { iteration: 15000, epoch: 24, lr: 1e-5 });
  assert.deepEqual(rows[21249], { iteration: 21249, epoch: 33.9984, lr: 6.000640000000002e-6 });
  rows.forEach((row, i) => {
    assert.equal(row.iteration, i);
    assert.equal(row.epoch, i / 625);
    assert.equal(row.lr, scheduleValueAtIteration(EXAMPLE, i, 625));
  });
});

Deno.test("scheduleRows() adds the coupled weight decay lr·λ", () => {
  const rows = [...scheduleRows(EXAMPLE, 2, { lambda: 0.15 })];
  assert.equal(rows.length, 68);
  for (const row of rows) assert.equal(row.wd, row.lr * 0.15);
  assert.equal(rows[0]!.wd, 0.00015);
});

Deno.test("scheduleRows() takes the weight decay from a separate schedule", () => {
  const wd = parseSchedule("[1.5e-4, 0]lin[1.5e-4, 20]cos[1e-6, 34]");
  const rows = [...scheduleRows(EXAMPLE, 10, { schedule: wd })];
  assert.equal(rows[0]!.wd, 1.5e-4);
  assert.equal(rows[200]!.wd, 1.5e-4);
  assert.equal(rows[200]!.lr, scheduleValueAtIteration(EXAMPLE, 200, 10));
  assert.equal(rows[339]!.wd, scheduleValueAtIteration(wd, 339, 10));
});

Deno.test("scheduleRows() throws RangeError on misuse", () => {
  assert.throws(() => scheduleRows(EXAMPLE, 0), RangeError);
  assert.throws(() => scheduleRows(EXAMPLE, 1.5), /positive integer, got 1.5/);
  assert.throws(() => scheduleRows(EXAMPLE, 5, { lambda: -1 }), RangeError);
  assert.throws(
    () => scheduleRows(EXAMPLE, 5, { schedule: parseSchedule("[1e-4, 0]lin[0, 30]") }),
    /last epoch 34, got 30/,
  );
});
