// Issue 13, finding 3: revoking a token (or its expiry) ended its REST access but not its open streams.
// Against the real api/main.ts: a run's WebSocket, the all-runs WebSocket, an SSE stream and a worker
// socket each close within seconds of their token's revocation or expiry; another token's stay open.
import assert from "node:assert/strict";
import { createApiToken } from "../shared/api-tokens.ts";
import { type ApiProcess, startApiProcess } from "./helpers/api-process.deno.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
let db: TestDatabase;
let api: ApiProcess;
let runId = "";

Deno.test.beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApiProcess({ databaseUrl: db.url });
  runId = (await enqueueRuns(db.sql, [{ epochs: 2 }]))[0]!;
});
Deno.test.afterAll(async () => {
  await api.stop();
  await db.drop();
});

interface Open {
  what: string;
  closed: Promise<number>;
  end(): void;
}

async function openSocket(what: string, path: string, token: string): Promise<Open> {
  const ws = new WebSocket(`ws://127.0.0.1:${api.port}${path}`, { headers: { authorization: `Bearer ${token}` } });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  const closed = new Promise<number>((r) => ws.addEventListener("close", () => r(performance.now())));
  return { what, closed, end: () => ws.close() };
}

async function openSse(what: string, token: string): Promise<Open> {
  const controller = new AbortController();
  const res = await fetch(`${api.url}/v1/runs/${runId}/events`, {
    headers: { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const closed = (async () => {
    try {
      while (!(await reader.read()).done) { /* events and heartbeats */ }
    } catch { /* aborted */ }
    return performance.now();
  })();
  return { what, closed, end: () => controller.abort() };
}

async function openAll(token: string, worker: string): Promise<Open[]> {
  return [
    await openSocket("run WebSocket", `/v1/runs/${runId}/stream`, token),
    await openSocket("all-runs WebSocket", "/v1/stream", token),
    await openSse("SSE", token),
    await openSocket("worker WebSocket", "/v1/workers/stream", worker),
  ];
}

async function closedWithin(streams: Open[], since: number, ms: number): Promise<string[]> {
  const late: string[] = [];
  await Promise.all(streams.map(async (s) => {
    const at = await Promise.race([s.closed, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
    if (at === null) late.push(s.what);
    else console.log(`${s.what} closed ${((at - since) / 1000).toFixed(1)} s after`);
  }));
  return late;
}

Deno.test({
  ...opts,
  name: "revoking a token closes its WebSockets (run, all runs, worker) and SSE streams within seconds",
  fn: async () => {
    const reader = await createApiToken(db.sql, { name: "reader", scopes: ["read"] });
    const worker = await createApiToken(db.sql, { name: "worker", scopes: ["worker"] });
    const bystander = await createApiToken(db.sql, { name: "other", scopes: ["read"] });
    const streams = await openAll(reader.token, worker.token);
    const other = await openSocket("another token's WebSocket", `/v1/runs/${runId}/stream`, bystander.token);
    const t0 = performance.now();
    await db.sql`update api_tokens set revoked_at = now() where id in ${db.sql([reader.id, worker.id])}`;
    assert.deepEqual(await closedWithin(streams, t0, 6000), [], "every stream of a revoked token closes");
    const stillOpen = await Promise.race([other.closed.then(() => false), new Promise((r) => setTimeout(() => r(true), 500))]);
    assert.equal(stillOpen, true, "streams of other tokens stay open");
    other.end();
  },
});

Deno.test({
  ...opts,
  name: "a token's expiry closes its open streams within seconds",
  fn: async () => {
    const expiresAt = new Date(Date.now() + 3000);
    const reader = await createApiToken(db.sql, { name: "short", scopes: ["read"], expiresAt });
    const worker = await createApiToken(db.sql, { name: "short worker", scopes: ["worker"], expiresAt });
    const streams = await openAll(reader.token, worker.token);
    const late = await closedWithin(streams, expiresAt.getTime() - Date.now() + performance.now(), 9000);
    assert.deepEqual(late, [], "every stream of an expired token closes");
  },
});
