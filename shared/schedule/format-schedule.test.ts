import assert from "node:assert/strict";
import fc from "fast-check";
import { formatSchedule, formatScheduleNumber } from "./format-schedule.ts";
import { parseSchedule } from "./parse-schedule.ts";
import { MAX_EPOCH, type Schedule, type Shape } from "./schedule.ts";
import { SEED_SCHEDULES } from "./seed-schedules.ts";

Deno.test("formatSchedule() writes the design's example canonically", () => {
  assert.equal(
    formatSchedule(parseSchedule("[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]")),
    "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]",
  );
});

Deno.test("formatSchedule() round-trips every seed schedule, and the canonical text is a fixed point", () => {
  for (const row of SEED_SCHEDULES) {
    const s = parseSchedule(row.schedule);
    const text = formatSchedule(s);
    assert.deepEqual(parseSchedule(text), s, `run ${row.run}`);
    assert.equal(formatSchedule(parseSchedule(text)), text, `run ${row.run}`);
    // The canonical form differs from the seed's only in how numbers are spelled.
    assert.equal(text.replace(/[0-9.e+-]+(?=,)/g, "N"), row.schedule.replace(/[0-9.e+-]+(?=,)/g, "N"));
  }
  assert.equal(
    formatSchedule(parseSchedule(SEED_SCHEDULES[20]!.schedule)),
    "[1e-3, 0]lin[1.2e-3, 5]lin[1.2e-3, 10]cos[1e-5, 19]lin[6e-6, 26]",
  );
});

Deno.test("formatSchedule() gives equal text for equal schedules written differently", () => {
  const a = formatSchedule(parseSchedule("[1.e-3, 0]cos[1.e-5, 30]lin[5.e-6, 40]"));
  const b = formatSchedule(parseSchedule(" [0.001,0] cos [0.00001,30] lin [5E-6,40] "));
  assert.equal(a, b);
  assert.equal(a, "[1e-3, 0]cos[1e-5, 30]lin[5e-6, 40]");
});

Deno.test("formatScheduleNumber() writes the shortest exact scientific form", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "0"],
    [0.001, "1e-3"],
    [0.0012, "1.2e-3"],
    [0.00125, "1.25e-3"],
    [0.000006, "6e-6"],
    [0.0008, "8e-4"],
    [0.5, "5e-1"],
    [1, "1"],
    [2.5, "2.5"],
    [100, "1e2"],
    [0.1 + 0.2, "3.0000000000000004e-1"],
    [5e-324, "5e-324"],
    [Number.MAX_VALUE, "1.7976931348623157e308"],
  ];
  for (const [value, text] of cases) assert.equal(formatScheduleNumber(value), text, String(value));
});

Deno.test("formatScheduleNumber() is exact for any finite non-negative float64", () => {
  fc.assert(
    fc.property(fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }), (v) => {
      const text = formatScheduleNumber(v);
      assert.ok(Object.is(Number(text), v === 0 ? 0 : v), `${v} -> ${text}`);
      assert.match(text, /^(0|[1-9](\.[0-9]*[1-9])?(e-?[1-9][0-9]*)?)$/);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("formatScheduleNumber() and formatSchedule() refuse what no schedule holds", () => {
  assert.throws(() => formatScheduleNumber(Number.NaN), RangeError);
  assert.throws(() => formatScheduleNumber(Infinity), RangeError);
  assert.throws(() => formatSchedule({ knots: [{ epoch: 0, value: 1 }], shapes: ["lin"] }), RangeError);
});

const arbitrarySchedule: fc.Arbitrary<Schedule> = fc
  .uniqueArray(fc.integer({ min: 1, max: MAX_EPOCH }), { minLength: 1, maxLength: 8 })
  .chain((epochs) => {
    const sorted = [0, ...epochs.sort((a, b) => a - b)];
    return fc.record({
      values: fc.array(fc.double({ min: 0, max: 10, noNaN: true }), {
        minLength: sorted.length,
        maxLength: sorted.length,
      }),
      shapes: fc.array(fc.constantFrom<Shape>("lin", "cos"), {
        minLength: epochs.length,
        maxLength: epochs.length,
      }),
    }).map(({ values, shapes }) => ({
      knots: sorted.map((epoch, k) => ({ epoch, value: values[k] === 0 ? 0 : values[k]! })),
      shapes,
    }));
  });

Deno.test("parseSchedule(formatSchedule(s)) deep-equals s for random valid schedules", () => {
  fc.assert(
    fc.property(arbitrarySchedule, (s) => {
      assert.deepEqual(parseSchedule(formatSchedule(s)), s);
    }),
    { numRuns: 500 },
  );
});
