import assert from "node:assert/strict";
import type { LogLevel } from "./logger.ts";
import { OutageLog } from "./outage-log.ts";

Deno.test("OutageLog: one warning when an outage starts, one line with its length when it ends, nothing in between", () => {
  const lines: [string, LogLevel | undefined][] = [];
  let now = 1_000;
  const outage = new OutageLog((line, level) => lines.push([line, level]), () => now);
  outage.up(() => "not down: not logged");
  outage.down("the database cannot be reached");
  now += 700;
  outage.down("again");
  assert.equal(outage.ongoing, true);
  now += 1_750;
  outage.up((s) => `back after ${s} s`);
  outage.up((s) => `back again after ${s} s`);
  assert.equal(outage.ongoing, false);
  assert.deepEqual(lines, [["the database cannot be reached", "warn"], ["back after 2.5 s", undefined]]);
});
