import assert from "node:assert/strict";
import { createLogger, MAX_LOG_FIELD } from "./logger.ts";

Deno.test("createLogger() cuts every long text field, so a failing query's parameters never reach the log in full", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "info", format: "json", write: (l) => lines.push(l) });
  const params = "[1e-3, 0]" + "lin[1e-3, 1]".repeat(100_000);
  log("error", "unhandled error", { error: `Failed query: insert …\nparams: ${params}`, nested: { stack: params } });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.length < 3 * MAX_LOG_FIELD + 500, `line of ${lines[0]!.length} characters`);
  const entry = JSON.parse(lines[0]!);
  assert.match(entry.error, /more characters cut\]$/);
  assert.match(entry.nested.stack, /more characters cut\]$/);
});

Deno.test("createLogger() honours the level and writes the same content as JSON or as one text line", () => {
  const json: string[] = [];
  const text: string[] = [];
  const fields = { worker: "w1" };
  const j = createLogger({ level: "warn", format: "json", fields, write: (l) => json.push(l) });
  const t = createLogger({ level: "warn", format: "text", fields, write: (l) => text.push(l) });
  for (const log of [j, t]) {
    log("info", "claimed", { runId: "r1" });
    log("warn", "the database cannot be reached", { runId: "r1", error: "connect ECONNREFUSED" });
    log("error", "two\nlines\u001b[2K");
  }
  assert.equal(json.length, 2, "info is below warn");
  const warn = JSON.parse(json[0]!);
  assert.equal(warn.level, "warn");
  assert.equal(warn.worker, "w1");
  assert.equal(warn.runId, "r1");
  assert.equal(JSON.parse(json[1]!).msg, "two\nlines\u001b[2K");
  assert.match(text[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z WARN worker=w1 the database cannot be reached runId=r1 error="connect ECONNREFUSED"$/);
  assert.match(text[1]!, /ERROR worker=w1 two\\nlines\\x1b\[2K$/, "a text line stays one line and cannot move the cursor");
});
