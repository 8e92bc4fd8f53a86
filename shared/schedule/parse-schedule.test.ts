import assert from "node:assert/strict";
import { parseSchedule } from "./parse-schedule.ts";
import { ScheduleSyntaxError } from "./schedule-syntax-error.ts";
import { SEED_SCHEDULES } from "./seed-schedules.ts";

Deno.test("parseSchedule() reads the design's example knot by knot", () => {
  assert.deepEqual(parseSchedule("[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]"), {
    knots: [
      { epoch: 0, value: 0.001 },
      { epoch: 14, value: 0.001 },
      { epoch: 24, value: 0.00001 },
      { epoch: 34, value: 0.000006 },
    ],
    shapes: ["lin", "cos", "lin"],
  });
});

Deno.test("parseSchedule() accepts all 34 schedules of the seed's tables", () => {
  assert.equal(SEED_SCHEDULES.length, 34);
  assert.deepEqual(SEED_SCHEDULES.map((r) => r.run), Array.from({ length: 34 }, (_, i) => i + 1));
  for (const row of SEED_SCHEDULES) {
    const s = parseSchedule(row.schedule);
    assert.ok(s.knots.length >= 2, `run ${row.run}`);
  }
});

Deno.test("parseSchedule() reads every number spelling of the design to the same float64", () => {
  const spellings: [string, number][] = [
    ["1.e-3", 0.001],
    ["1e-3", 0.001],
    ["0.001", 0.001],
    ["1.20e-3", 0.0012],
    ["1.2E-3", 0.0012],
    ["12e-4", 0.0012],
    ["0", 0],
    ["0.0", 0],
    [".5", 0.5],
    ["5.", 5],
    ["1e+2", 100],
    ["1.25e-3", 0.00125],
  ];
  for (const [text, value] of spellings) {
    const s = parseSchedule(`[${text}, 0]lin[${text}, 1]`);
    assert.equal(s.knots[0]!.value, value, text);
    assert.ok(Object.is(s.knots[1]!.value, value), text);
  }
});

Deno.test("parseSchedule() tolerates whitespace between all tokens", () => {
  const s = parseSchedule(" \n[ 1.e-3 ,\t0 ]  lin\r\n[1.e-3,14]cos [ 1.e-5 , 24 ] \n");
  assert.deepEqual(s, parseSchedule("[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]"));
});

Deno.test("parseSchedule() keeps consecutive segments of the same shape apart (seed run 19)", () => {
  const s = parseSchedule("[8.e-4, 0]lin[1.2e-3, 8]lin[1.2e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]");
  assert.deepEqual(s.shapes, ["lin", "lin", "cos", "lin"]);
  assert.deepEqual(s.knots.map((k) => k.epoch), [0, 8, 14, 24, 34]);
});

Deno.test("parseSchedule() accepts a value of 0 and a last epoch of 1000", () => {
  assert.equal(parseSchedule("[1.e-3, 0]cos[0, 56]").knots[1]!.value, 0);
  assert.equal(parseSchedule("[1e-3, 0]lin[0, 1000]").knots[1]!.epoch, 1000);
});

/** [text, offset, a phrase the `expected` part must contain, the `found` part] */
const INVALID: [string, number, string, string][] = [
  ["", 0, "'['", "end of input"],
  ["   ", 3, "'['", "end of input"],
  ["[1e-3, 0]", 9, "at least one segment", "end of input"],
  ["[1e-3, 0]sin[1e-5, 30]", 9, "'lin' or 'cos'", "'sin'"],
  ["[1e-3, 0]LIN[1e-5, 30]", 9, "'lin' or 'cos'", "'LIN'"],
  ["[1e-3, 1]lin[1e-5, 30]", 7, "epoch 0", "'1'"],
  ["[1e-3, 0]lin[1e-3, 14]cos[1e-5, 10]", 32, "greater than 14", "'10'"],
  ["[1e-3, 0]lin[1e-3, 0]", 19, "greater than 0", "'0'"],
  ["[-1e-3, 0]lin[1e-3, 5]", 1, "a number ≥ 0", "'-1e-3'"],
  ["[1e-3, 0]lin[-0, 5]", 13, "a number ≥ 0", "'-0'"],
  ["[+1e-3, 0]lin[1e-3, 5]", 1, "without a sign", "'+1e-3'"],
  ["[1e999, 0]lin[1e-3, 5]", 1, "a finite number", "'1e999'"],
  ["[NaN, 0]lin[1e-3, 5]", 1, "a number", "'NaN'"],
  ["[Infinity, 0]lin[1e-3, 5]", 1, "a number", "'Infinity'"],
  ["[1e-3, 0]lin[1e-5, 30] x", 23, "'lin', 'cos' or end of input", "'x'"],
  ["[1e-3, 0]lin[1e-5, 30]]", 22, "'lin', 'cos' or end of input", "']'"],
  ["[1e-3, 0]lin[1e-5, 30];", 22, "end of input", "';'"],
  ["[1e-3, 0]lin[1e-5, 14.5]", 19, "a whole epoch", "'14.5'"],
  ["[1e-3, 0]lin[1e-5, 1e2]", 19, "a whole epoch", "'1e2'"],
  ["[1e-3, -1]lin[1e-5, 5]", 7, "non-negative epoch", "'-1'"],
  ["[1e-3, 0]lin[1e-5, 1001]", 19, "≤ 1000", "'1001'"],
  ["[1e-3, 0]lin[1e-5, 99999999999999999999]", 19, "≤ 1000", "'99999999999999999999'"],
  ["[1e-3 0]lin[1e-5, 5]", 6, "','", "'0'"],
  ["[1e-3, 0lin[1e-5, 5]", 8, "']'", "'lin'"],
  ["[, 0]lin[1e-5, 5]", 1, "a number", "','"],
  ["[., 0]lin[1e-5, 5]", 1, "a number", "'.'"],
  ["[1e, 0]lin[1e-5, 5]", 1, "exponent", "'1e'"],
  ["[0x1, 0]lin[1e-5, 5]", 2, "','", "'x1'"],
  ["[1e-3, ]lin[1e-5, 5]", 7, "an epoch", "']'"],
  ["[1e-3, 0]lin", 12, "'['", "end of input"],
  ["[1e-3, 0]lin[1e-5, 5", 20, "']'", "end of input"],
  ["1e-3, 0]lin[1e-5, 5]", 0, "'['", "'1e-3'"],
  ["[1e-3, 0]lin(1e-5, 5)", 12, "'['", "'('"],
  ["[1e-3, 0]lin[1e-3, 10]cos", 25, "'['", "end of input"],
];

Deno.test(`parseSchedule() rejects ${INVALID.length} invalid schedules with offset, expected and found`, () => {
  for (const [text, offset, expected, found] of INVALID) {
    assert.throws(() => parseSchedule(text), (e: unknown) => {
      assert.ok(e instanceof ScheduleSyntaxError, `${JSON.stringify(text)}: ${e}`);
      assert.ok(e instanceof SyntaxError);
      assert.equal(e.name, "ScheduleSyntaxError");
      assert.equal(e.offset, offset, `offset for ${JSON.stringify(text)}: ${e.message}`);
      assert.ok(e.expected.includes(expected), `expected for ${JSON.stringify(text)}: ${e.message}`);
      assert.equal(e.found, found, `found for ${JSON.stringify(text)}: ${e.message}`);
      assert.equal(
        e.message,
        `Cannot parse schedule: expected ${e.expected} at offset ${offset}, found ${found}`,
      );
      return true;
    });
  }
});

Deno.test("parseSchedule() rejects decreasing epochs with the house-style message", () => {
  assert.throws(() => parseSchedule("[1e-3, 0]lin[1e-3, 14]cos[1e-5, 10]"), {
    name: "ScheduleSyntaxError",
    message:
      "Cannot parse schedule: expected an epoch greater than 14 (epochs must increase) at offset 32, found '10'",
  });
  assert.throws(() => parseSchedule("[1e-3, 0]sin[1e-5, 30]"), {
    message: "Cannot parse schedule: expected 'lin' or 'cos' at offset 9, found 'sin'",
  });
});

Deno.test("parseSchedule() throws TypeError for a non-string", () => {
  assert.throws(() => parseSchedule(42 as unknown as string), TypeError);
  assert.throws(() => parseSchedule(null as unknown as string), /got null/);
});
