import assert from "node:assert/strict";
import { formatSchedule } from "./format-schedule.ts";
import { parseSchedule } from "./parse-schedule.ts";
import { scheduleJsonSchema, scheduleToJson } from "./schedule-json.ts";
import { SEED_SCHEDULES } from "./seed-schedules.ts";

Deno.test("scheduleJsonSchema reads the design's example to the same schedule as the text", () => {
  const s = scheduleJsonSchema.parse([
    { epoch: 0, value: 1e-3 },
    { shape: "lin", epoch: 14, value: 1e-3 },
    { shape: "cos", epoch: 24, value: 1e-5 },
    { shape: "lin", epoch: 34, value: 6e-6 },
  ]);
  assert.deepEqual(s, parseSchedule("[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]"));
});

Deno.test("scheduleToJson() round-trips every seed schedule through scheduleJsonSchema", () => {
  for (const row of SEED_SCHEDULES) {
    const s = parseSchedule(row.schedule);
    const json = JSON.parse(JSON.stringify(scheduleToJson(s)));
    assert.deepEqual(scheduleJsonSchema.parse(json), s, `run ${row.run}`);
    assert.equal(formatSchedule(scheduleJsonSchema.parse(json)), formatSchedule(s));
  }
});

/** [input, JSON path of the issue, a phrase of its message] */
const INVALID: [unknown, (string | number)[], string][] = [
  [[], [], "at least 2 knots"],
  [[{ epoch: 0, value: 1e-3 }], [], "at least 2 knots"],
  [[{ epoch: 1, value: 1e-3 }, { shape: "lin", epoch: 5, value: 0 }], [0, "epoch"], "epoch 0"],
  [[{ epoch: 0, value: 1e-3 }, { shape: "lin", epoch: 0, value: 0 }], [1, "epoch"], "greater than 0"],
  [[{ epoch: 0, value: 1e-3 }, { shape: "lin", epoch: 2.5, value: 0 }], [1, "epoch"], "whole"],
  [[{ epoch: 0, value: 1e-3 }, { shape: "lin", epoch: 1001, value: 0 }], [1, "epoch"], "≤ 1000"],
  [[{ epoch: 0, value: -1e-3 }, { shape: "lin", epoch: 5, value: 0 }], [0, "value"], "≥ 0, found -0.001"],
  [[{ epoch: 0, value: 1e-3 }, { epoch: 5, value: 0 }], [1, "shape"], "'lin' or 'cos'"],
  [[{ shape: "cos", epoch: 0, value: 1e-3 }, { shape: "lin", epoch: 5, value: 0 }], [0, "shape"], "no shape"],
  [[{ epoch: 0, value: 1e-3 }, { shape: "sin", epoch: 5, value: 0 }], [1, "shape"], ""],
  [[{ epoch: 0, value: 1e-3 }, { shape: "lin", epoch: 5, lr: 0 }], [1], ""],
  [[{ epoch: 0, value: 1e-3 }, { shape: "lin", epoch: "5", value: 0 }], [1, "epoch"], ""],
  ["[1e-3, 0]lin[1e-5, 5]", [], ""],
];

Deno.test("scheduleJsonSchema rejects invalid schedules with the JSON path and the rule", () => {
  for (const [input, path, phrase] of INVALID) {
    const result = scheduleJsonSchema.safeParse(input);
    assert.equal(result.success, false, JSON.stringify(input));
    const issue = result.error!.issues.find((i) => JSON.stringify(i.path) === JSON.stringify(path));
    assert.ok(issue !== undefined, `${JSON.stringify(input)}: ${JSON.stringify(result.error!.issues)}`);
    assert.ok(issue.message.includes(phrase), `${JSON.stringify(input)}: ${issue.message}`);
  }
});

Deno.test("scheduleJsonSchema reports hostile values without calling their methods", () => {
  for (const value of [{ toString: 1 }, { valueOf: null }, [1, 2]]) {
    const result = scheduleJsonSchema.safeParse([{ epoch: 0, value: 1e-3 }, { shape: value, epoch: 2, value: 0 }]);
    assert.equal(result.success, false);
  }
});
