// Live streams against a real Postgres and a real Deno.serve: replay-then-live, resume, terminal close,
// SSE with Last-Event-ID, the multi-run stream, and every refusal before the upgrade.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createStreamRoutes } from "../api/streams/create-stream-routes.ts";
import { StreamHub } from "../api/streams/stream-hub.ts";
import {
  createToken,
  DrivenRun,
  insertRun,
  startStreamServer,
  storedMessages,
  Subscriber,
} from "../api/streams/stream-test-kit.ts";
import { STREAM_PROTOCOL } from "../shared/stream-messages.ts";
import { createTestDatabase } from "./helpers/test-database.ts";

const db = await createTestDatabase();
const server = await startStreamServer(db.url, { allowedOrigins: ["https://dash.example"] });
const readToken = await createToken(db.sql, ["read"]);

// One server and database for the file: the sanitizers would see their connections as leaks.
const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

Deno.test.afterAll(async () => {
  await server.close();
  await db.drop();
});

test("a subscriber gets the stored events, then live ones, then the terminal state and close 1000", async () => {
  const runId = await insertRun(db.sql);
  const run = new DrivenRun(db.sql, runId);
  await run.claim();
  await run.epoch(1);
  await run.epoch(2);
  const sub = new Subscriber(`${server.wsUrl}/v1/runs/${runId}/stream`, readToken);
  await sub.opened;
  await sub.waitFor((m) => m.length === 3);
  for (let e = 3; e <= 5; e++) await run.epoch(e);
  await run.complete();
  const closed = await sub.closed;
  assert.equal(closed.code, 1000);
  assert.deepEqual(sub.durable(), await storedMessages(db.sql, runId));
  assert.deepEqual(sub.messages.map((m) => m.type), [
    "state",
    "epoch",
    "epoch",
    "epoch",
    "epoch",
    "epoch",
    "state",
  ]);
  assert.equal(sub.messages.at(-1)?.state, "succeeded");
});

test("?after=N resumes with seq N+1; a finished run the client has in full just closes 1000", async () => {
  const runId = await insertRun(db.sql);
  const run = new DrivenRun(db.sql, runId);
  await run.claim();
  for (let e = 1; e <= 4; e++) await run.epoch(e);
  await run.complete();
  const stored = await storedMessages(db.sql, runId);
  const sub = new Subscriber(`${server.wsUrl}/v1/runs/${runId}/stream?after=3`, readToken);
  assert.equal((await sub.closed).code, 1000);
  assert.deepEqual(sub.messages, stored.slice(3));
  const done = new Subscriber(`${server.wsUrl}/v1/runs/${runId}/stream?after=${stored.length}`, readToken);
  assert.equal((await done.closed).code, 1000);
  assert.deepEqual(done.messages, []);
});

test("a browser's token travels as a subprotocol entry and only resnet-jobs.v1 is echoed", async () => {
  const runId = await insertRun(db.sql);
  const sub = new Subscriber(`${server.wsUrl}/v1/runs/${runId}/stream`, readToken, {
    viaProtocol: true,
    origin: "https://dash.example",
  });
  await sub.opened;
  assert.equal(sub.socket.protocol, STREAM_PROTOCOL);
  sub.close();
  await sub.closed;
});

test("refusals happen before the upgrade: 401, 403, 404, 400 with the API's error body", async () => {
  const runId = await insertRun(db.sql);
  const hub = new StreamHub({ sql: db.sql });
  const app = new Hono().route(
    "/",
    createStreamRoutes({ sql: db.sql, hub, allowedOrigins: ["https://dash.example"] }),
  );
  const expired = await createToken(db.sql, ["read"], new Date(Date.now() - 1000));
  const revoked = await createToken(db.sql, ["read"]);
  await db.sql`update api_tokens set revoked_at = now() where prefix = ${revoked.slice(0, 10)}`;
  const workerToken = await createToken(db.sql, ["worker"]);
  const ws = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  };
  const get = async (path: string, headers: Record<string, string>) => {
    const res = await app.request(path, { headers: { ...ws, ...headers } });
    const body = await res.json();
    return {
      status: res.status,
      code: body.error?.code,
      message: String(body.error?.message),
      headers: res.headers,
    };
  };
  const stream = `/v1/runs/${runId}/stream`;
  const none = await get(stream, {});
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate") ?? "", /Bearer/);
  assert.equal((await get(stream, { authorization: "Bearer rjt_nope" })).status, 401);
  assert.equal((await get(stream, { authorization: `Bearer ${expired}` })).status, 401);
  assert.equal((await get(stream, { authorization: `Bearer ${revoked}` })).status, 401);
  assert.equal((await get(stream, { authorization: "Basic abc" })).status, 401);
  const wrongScope = await get(stream, { authorization: `Bearer ${workerToken}` });
  assert.deepEqual([wrongScope.status, wrongScope.code], [403, "forbidden"]);
  const readOnWorker = await get("/v1/workers/stream", { authorization: `Bearer ${readToken}` });
  assert.equal(readOnWorker.status, 403);
  const foreign = await get(stream, { authorization: `Bearer ${readToken}`, origin: "https://evil.example" });
  assert.deepEqual([foreign.status, foreign.code], [403, "forbidden"]);
  assert.match(foreign.message, /evil\.example/);
  // A foreign origin is refused even with a valid token in the subprotocol (a hijacking page's way in).
  const hijack = await get(stream, {
    "sec-websocket-protocol": `${STREAM_PROTOCOL}, bearer.${readToken}`,
    origin: "https://evil.example",
  });
  assert.equal(hijack.status, 403);
  const noVersion = await get(stream, { "sec-websocket-protocol": `bearer.${readToken}` });
  assert.equal(noVersion.status, 400);
  assert.equal(
    (await get(`/v1/runs/${crypto.randomUUID()}/stream`, { authorization: `Bearer ${readToken}` })).status,
    404,
  );
  assert.equal(
    (await get("/v1/runs/not-a-uuid/stream", { authorization: `Bearer ${readToken}` })).status,
    404,
  );
  assert.equal((await get(`${stream}?after=-1`, { authorization: `Bearer ${readToken}` })).status, 400);
  assert.equal(
    (await get(`/v1/stream?sweep=${crypto.randomUUID()}`, { authorization: `Bearer ${readToken}` })).status,
    404,
  );
  const plain = await app.request(stream, { headers: { authorization: `Bearer ${readToken}` } });
  assert.equal(plain.status, 400);
  // No token text in any refusal.
  for (const r of [wrongScope, foreign, hijack, noVersion]) {
    assert.ok(!r.message.includes(readToken.slice(4)));
  }
  await hub.close();
});

test("a real socket with a bad token never opens", async () => {
  const runId = await insertRun(db.sql);
  const sub = new Subscriber(`${server.wsUrl}/v1/runs/${runId}/stream`, "rjt_wrong");
  await assert.rejects(sub.opened);
  await sub.closed;
  assert.deepEqual(sub.messages, []);
});

test("SSE: events carry id: seq, Last-Event-ID resumes, a finished and fully read run answers 204", async () => {
  const runId = await insertRun(db.sql);
  const run = new DrivenRun(db.sql, runId);
  await run.claim();
  for (let e = 1; e <= 3; e++) await run.epoch(e);
  await run.complete();
  const stored = await storedMessages(db.sql, runId);
  const res = await fetch(`${server.url}/v1/runs/${runId}/events`, {
    headers: { authorization: `Bearer ${readToken}`, "last-event-id": "2" },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const text = await res.text(); // the stream ends after the terminal state
  const events = text.split("\n\n").filter((b) => b.startsWith("id:")).map((b) => {
    const [idLine, dataLine] = b.split("\n");
    return { id: Number(idLine!.slice(4)), data: JSON.parse(dataLine!.slice(6)) };
  });
  assert.deepEqual(events.map((e) => e.id), stored.slice(2).map((m) => m.seq));
  assert.deepEqual(events.map((e) => e.data), stored.slice(2));
  const again = await fetch(`${server.url}/v1/runs/${runId}/events`, {
    headers: { authorization: `Bearer ${readToken}`, "last-event-id": String(stored.length) },
  });
  assert.equal(again.status, 204);
  await again.body?.cancel();
});

test("the multi-run stream delivers every run's live events, and a sweep's only", async () => {
  const [sweep] = await db.sql<{ id: string }[]>`
    insert into sweeps (base_spec, grid) values ('{}', '{}') returning id`;
  const inSweep = await insertRun(db.sql, { sweepId: sweep!.id });
  const all = new Subscriber(`${server.wsUrl}/v1/stream`, readToken);
  const one = new Subscriber(`${server.wsUrl}/v1/stream?sweep=${sweep!.id}`, readToken);
  await Promise.all([all.opened, one.opened]);
  const a = new DrivenRun(db.sql, inSweep);
  await a.claim();
  await a.epoch(1);
  const outside = await insertRun(db.sql);
  const b = new DrivenRun(db.sql, outside);
  await b.claim();
  await b.epoch(1);
  await a.complete();
  await b.complete();
  await all.waitFor((m) => m.filter((x) => x.state === "succeeded").length === 2);
  await one.waitFor((m) => m.some((x) => x.state === "succeeded"));
  const byRun = (msgs: Record<string, unknown>[], id: string) => msgs.filter((m) => m.runId === id);
  assert.deepEqual(byRun(all.messages, inSweep), await storedMessages(db.sql, inSweep));
  assert.deepEqual(byRun(all.messages, outside), await storedMessages(db.sql, outside));
  assert.deepEqual(one.messages, await storedMessages(db.sql, inSweep));
  all.close();
  one.close();
  await Promise.all([all.closed, one.closed]);
});
