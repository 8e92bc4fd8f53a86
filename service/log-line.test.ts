import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeLogLine } from "../shared/logger.ts";
import { childLine, LineSplitter, MAX_LOG_LINE } from "./log-line.ts";

test("escapeLogLine() makes line breaks, CR and ANSI escapes visible, so child output cannot forge a line", () => {
  assert.equal(escapeLogLine("x\n2026-01-01T00:00:00Z admin token: rjt_fake"), "x\\n2026-01-01T00:00:00Z admin token: rjt_fake");
  assert.equal(escapeLogLine("a\rb\u001b[2Kc\u0007\u009b\u2028"), "a\\rb\\x1b[2Kc\\x07\\x9b\\u2028");
  assert.equal(escapeLogLine("plain\ttext ünïcode"), "plain\ttext ünïcode");
});

test("LineSplitter keeps a line longer than a 64 KiB pipe chunk whole, bounded, with the cut counted", () => {
  const out: string[] = [];
  const lines = new LineSplitter((l) => out.push(l));
  const long = "y".repeat(200 * 1024);
  const bytes = Buffer.from(`first\n${long}\nü-split\n`);
  // Feed it in 64 KiB chunks, one of them splitting the two bytes of "ü".
  const cut = bytes.indexOf(Buffer.from("ü")) + 1;
  for (const [a, b] of [[0, 65536], [65536, 131072], [131072, cut], [cut, bytes.length]] as const) lines.push(bytes.subarray(a, b));
  lines.end();
  assert.equal(out.length, 3);
  assert.equal(out[0], "first");
  assert.equal(out[1], `${"y".repeat(MAX_LOG_LINE)} … [${200 * 1024 - MAX_LOG_LINE} more characters cut]`);
  assert.equal(out[2], "ü-split");
});

test("childLine(): a child's JSON line gains its process name; any other line becomes a JSON line; text keeps the bracketed name", () => {
  const json = JSON.parse(childLine("json", "api", '{"time":"t","level":"warn","msg":"x"}'));
  assert.deepEqual(json, { process: "api", time: "t", level: "warn", msg: "x" });
  const stack = JSON.parse(childLine("json", "worker-1", "    at main (worker/main.ts:1:1)"));
  assert.equal(stack.process, "worker-1");
  assert.equal(stack.msg, "    at main (worker/main.ts:1:1)");
  assert.match(childLine("text", "worker-1", "run r started"), /^\S+Z \[worker-1\] run r started$/);
  assert.equal(
    childLine("text", "worker-1", "2026-11-30T08:58:42.282Z worker=w1 run r started"),
    "2026-11-30T08:58:42.282Z [worker-1] worker=w1 run r started",
    "one timestamp, the child's",
  );
});
