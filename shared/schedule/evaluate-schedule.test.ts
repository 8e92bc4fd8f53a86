import assert from "node:assert/strict";
import { lastEpoch, peakValue, scheduleValueAt, scheduleValueAtIteration } from "./evaluate-schedule.ts";
import { parseSchedule } from "./parse-schedule.ts";
import { SEED_SCHEDULES } from "./seed-schedules.ts";

const EXAMPLE = parseSchedule("[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]");

Deno.test("scheduleValueAt() hits every knot of every seed schedule exactly", () => {
  for (const row of SEED_SCHEDULES) {
    const s = parseSchedule(row.schedule);
    for (const knot of s.knots) {
      assert.ok(Object.is(scheduleValueAt(s, knot.epoch), knot.value), `run ${row.run} epoch ${knot.epoch}`);
      for (const steps of [1, 7, 625, 782]) {
        assert.ok(
          Object.is(scheduleValueAtIteration(s, knot.epoch * steps, steps), knot.value),
          `run ${row.run} epoch ${knot.epoch} at ${steps} steps per epoch`,
        );
      }
    }
  }
});

// Expected values computed independently in float64 (Python: x = (t - e0) / (e1 - e0), then the
// design's formula with math.cos and math.pi), written out as literals.
Deno.test("scheduleValueAt() follows the cosine formula between knots (design example)", () => {
  // t = 19: x = 0.5, 1e-5 + (1e-3 - 1e-5) * cos(pi/4)
  assert.equal(scheduleValueAt(EXAMPLE, 19), 0.0007100357133746822);
  assert.equal(scheduleValueAt(EXAMPLE, 14.4), 0.000998046461143989);
  assert.equal(scheduleValueAt(EXAMPLE, 23.9984), 1.0248814135544842e-5);
});

Deno.test("scheduleValueAt() follows the linear formula between knots", () => {
  assert.equal(scheduleValueAt(EXAMPLE, 29), 8.000000000000001e-6); // (1e-5 → 6e-6) halfway
  assert.equal(scheduleValueAt(EXAMPLE, 24.0016), 9.99936e-6);
  assert.equal(scheduleValueAt(EXAMPLE, 33.9984), 6.000640000000002e-6);
  // Seed run 19's linear rise from 8e-4 to 1.2e-3 over 8 epochs, at epoch 3.
  const run19 = parseSchedule(SEED_SCHEDULES[18]!.schedule);
  assert.equal(scheduleValueAt(run19, 3), 0.00095);
  // The plateau lin[1.2e-3, 8]lin[1.2e-3, 14] stays exactly on its value.
  assert.equal(scheduleValueAt(run19, 11.5), 0.0012);
});

Deno.test("scheduleValueAt() follows the cosine down to 0 in seed run 1", () => {
  const run1 = parseSchedule("[1.e-3, 0]cos[0, 56]");
  assert.equal(scheduleValueAt(run1, 0.5), 0.000999901651759575);
  assert.equal(scheduleValueAt(run1, 28), 0.0007071067811865476);
  assert.equal(scheduleValueAt(run1, 56), 0);
});

Deno.test("scheduleValueAtIteration() evaluates the design's example at 625 steps per epoch", () => {
  const at = (i: number) => scheduleValueAtIteration(EXAMPLE, i, 625);
  assert.equal(at(0), 1e-3);
  assert.equal(at(1), 1e-3); // plateau
  assert.equal(at(8750), 1e-3); // epoch 14
  assert.equal(at(9000), 0.000998046461143989); // t = 14.4
  assert.equal(at(11875), 0.0007100357133746822); // t = 19
  assert.equal(at(14999), 1.0248814135544842e-5); // t = 23.9984
  assert.equal(at(15000), 1e-5); // epoch 24, the knot itself
  assert.equal(at(15001), 9.99936e-6);
  assert.equal(at(18125), 8.000000000000001e-6); // t = 29
  assert.equal(at(21249), 6.000640000000002e-6); // the last trained iteration
  assert.equal(at(21250), 6e-6); // the end itself
  // The LR never increases after the plateau and stays within its knots.
  let previous = Infinity;
  for (let i = 8750; i < 21250; i++) {
    const lr = at(i);
    assert.ok(lr <= previous && lr >= 6e-6 && lr <= 1e-3, `iteration ${i}: ${lr}`);
    previous = lr;
  }
});

Deno.test("scheduleValueAtIteration() throws RangeError on misuse", () => {
  assert.throws(() => scheduleValueAtIteration(EXAMPLE, -1, 625), /non-negative integer, got -1/);
  assert.throws(() => scheduleValueAtIteration(EXAMPLE, 1.5, 625), RangeError);
  assert.throws(() => scheduleValueAtIteration(EXAMPLE, 0, 62.5), /positive integer, got 62.5/);
  assert.throws(() => scheduleValueAtIteration(EXAMPLE, 0, 0), RangeError);
  assert.throws(() => scheduleValueAtIteration(EXAMPLE, 21251, 625), /past the schedule's end/);
  assert.throws(() => scheduleValueAtIteration(EXAMPLE, Number.NaN, 625), RangeError);
});

Deno.test("scheduleValueAt() throws RangeError outside [0, last epoch]", () => {
  assert.throws(() => scheduleValueAt(EXAMPLE, -0.001), /\[0, 34\]/);
  assert.throws(() => scheduleValueAt(EXAMPLE, 34.0001), RangeError);
  assert.throws(() => scheduleValueAt(EXAMPLE, Number.NaN), RangeError);
  assert.throws(() => scheduleValueAt(EXAMPLE, Infinity), RangeError);
  assert.throws(() => scheduleValueAt({ knots: [], shapes: [] }, 0), RangeError);
});

Deno.test("lastEpoch() and peakValue() read the seed's epochs and α", () => {
  assert.equal(lastEpoch(EXAMPLE), 34);
  assert.equal(peakValue(EXAMPLE), 1e-3);
  for (const row of SEED_SCHEDULES) {
    const s = parseSchedule(row.schedule);
    // In every row of the seed's tables, α is the schedule's peak LR.
    assert.equal(peakValue(s), Number(row.alpha), `run ${row.run}`);
    assert.equal(lastEpoch(s), s.knots.at(-1)!.epoch);
  }
  assert.equal(lastEpoch(parseSchedule(SEED_SCHEDULES[0]!.schedule)), 56);
  assert.throws(() => lastEpoch({ knots: [], shapes: [] }), RangeError);
  assert.throws(() => peakValue({ knots: [], shapes: [] }), RangeError);
});
