import assert from "node:assert/strict";
import { jsonLogger, MAX_LOG_FIELD } from "./logger.ts";

Deno.test("jsonLogger() cuts every long text field, so a failing query's parameters never reach the log in full", () => {
  const lines: string[] = [];
  const log = jsonLogger("info", (l) => lines.push(l));
  const params = "[1e-3, 0]" + "lin[1e-3, 1]".repeat(100_000);
  log("error", "unhandled error", { error: `Failed query: insert …\nparams: ${params}`, nested: { stack: params } });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.length < 3 * MAX_LOG_FIELD + 500, `line of ${lines[0]!.length} characters`);
  const entry = JSON.parse(lines[0]!);
  assert.match(entry.error, /more characters cut\]$/);
  assert.match(entry.nested.stack, /more characters cut\]$/);
});
