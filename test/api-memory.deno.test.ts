// Issue 13, finding 4: a read token made the API use gigabytes, with one /v1/sql statement returning a
// 300 MB value (the byte cap was checked after a batch was decoded) or with subscriber WebSockets sent
// 60 MiB frames. Against the real api/main.ts process; its peak RSS (VmHWM) is the measure.
import assert from "node:assert/strict";
import { createApiToken } from "../shared/api-tokens.ts";
import { type ApiProcess, startApiProcess } from "./helpers/api-process.deno.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MB = 1024 * 1024;
let db: TestDatabase;
let api: ApiProcess;
let reader = "";
let runId = "";

Deno.test.beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApiProcess({ databaseUrl: db.url });
  reader = (await createApiToken(db.sql, { name: "reader", scopes: ["read"] })).token;
  runId = (await enqueueRuns(db.sql, [{ epochs: 2 }]))[0]!;
});
Deno.test.afterAll(async () => {
  console.log(`API peak RSS over the memory attacks: ${((api.peakRss() ?? 0) / MB).toFixed(0)} MiB`);
  await api.stop();
  await db.drop();
});

async function sql(statement: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${api.url}/v1/sql`, {
    method: "POST",
    headers: { authorization: `Bearer ${reader}`, "content-type": "application/json" },
    body: JSON.stringify({ sql: statement }),
  });
  return { status: res.status, body: await res.json() };
}

Deno.test({
  ...opts,
  name: "a 300 MB value from /v1/sql is cut by Postgres before it reaches the API: 200 truncated, RSS stays low",
  fn: async () => {
    const base = api.rss()!;
    const one = await sql("select repeat(repeat('x', 1000), 300000) as big");
    assert.equal(one.status, 200, JSON.stringify(one.body).slice(0, 300));
    assert.equal(one.body.truncated, true);
    assert.deepEqual(one.body.rows, []);
    const many = await sql("select g, repeat('y', 1000000) as mb from generate_series(1, 100) g");
    assert.equal(many.status, 200);
    assert.equal(many.body.truncated, true);
    const rows = many.body.rows as unknown[][];
    assert.ok(rows.length >= 20 && rows.length <= 33, `about 32 MiB of 1 MB rows, found ${rows.length}`);
    const small = await sql("select 1 as one, 'a' as two");
    assert.deepEqual(small.body.rows, [[1, "a"]]);
    const explain = await sql("explain select * from runs_view");
    assert.equal(explain.status, 200, "EXPLAIN still works");
    const peak = api.peakRss()!;
    console.log(`RSS before ${(base / MB).toFixed(0)} MiB, peak after the SQL attacks ${(peak / MB).toFixed(0)} MiB`);
    assert.ok(peak < base + 400 * MB, `peak RSS ${(peak / MB).toFixed(0)} MiB`);
  },
});

Deno.test({
  ...opts,
  name: "eight subscriber WebSockets sending 60 MiB frames are closed before the payload is taken in",
  fn: async () => {
    const before = api.peakRss()!;
    const payload = new Uint8Array(60 * MB);
    const closed = await Promise.all(Array.from({ length: 8 }, async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${api.port}/v1/runs/${runId}/stream`, { headers: { authorization: `Bearer ${reader}` } });
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      const done = new Promise<boolean>((r) => (ws.onclose = () => r(true)));
      ws.send(payload);
      return await Promise.race([done, new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
    }));
    assert.deepEqual(closed, Array(8).fill(true), "every oversized socket is closed");
    const health = await fetch(`${api.url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const peak = api.peakRss()!;
    console.log(`peak RSS before the frames ${(before / MB).toFixed(0)} MiB, after ${(peak / MB).toFixed(0)} MiB`);
    assert.ok(peak < before + 200 * MB, `peak RSS grew to ${(peak / MB).toFixed(0)} MiB`);
  },
});
