// LOG_LEVEL and LOG_FORMAT reach the worker's runner: at LOG_LEVEL=warn a worker prints its warnings
// (here: its live socket to an API that is not there) and nothing at info, as JSON lines that name it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { queueFixture } from "./helpers/queue-fixture.ts";
import { startWorker } from "./helpers/worker-process.ts";

const fx = queueFixture("worker-log-levels");

test("LOG_LEVEL=warn LOG_FORMAT=json: the worker's warnings come out as JSON lines naming it, its info lines do not", { timeout: 60_000 }, async () => {
  const w = startWorker({
    DATABASE_URL: fx.db.url,
    TRAINER: "fake",
    CHECKPOINT_DIR: fx.dir,
    LOG_LEVEL: "warn",
    LOG_FORMAT: "json",
    API_URL: "http://127.0.0.1:1", // nothing listens: the worker stream warns and retries
    WORKER_TOKEN: "rjt_not-a-real-token-but-long-enough-000000",
  }, "quiet");
  fx.workers.push(w);
  await w.waitFor(/worker stream: .*reconnecting with backoff/, 30_000);
  w.child.kill("SIGTERM");
  assert.equal((await w.exited).code, 0);
  const lines = w.output().split("\n").filter((l) => l.trim() !== "");
  const entries = lines.map((l) => {
    try {
      return JSON.parse(l) as { level: string; msg: string; worker?: string };
    } catch {
      throw new Error(`not a JSON line: ${l}`);
    }
  });
  assert.ok(entries.some((e) => e.level === "warn" && /reconnecting with backoff/.test(e.msg) && e.worker === "quiet"), lines.join("\n"));
  for (const e of entries) assert.ok(e.level === "warn" || e.level === "error", `below warn: ${JSON.stringify(e)}`);
  assert.ok(!entries.some((e) => /ready|draining|stopped/.test(e.msg)), "info lines stay out");
});
