// Fan-out and backpressure: 1,000 subscribers on one run each get every event; subscribers that never
// read are closed with 1013 and cost bounded memory; a congested one gets progress coalesced to the
// newest; a peer that stops answering pings is dropped; an SSE client that leaves is forgotten.
import assert from "node:assert/strict";
import {
  createToken,
  DrivenRun,
  insertRun,
  RawWsClient,
  sleep,
  startStreamServer,
  storedMessages,
  Subscriber,
} from "../api/streams/stream-test-kit.ts";
import { appendEvent } from "../shared/queue/append-event.ts";
import { WorkerStream } from "../worker/stream/worker-stream.ts";
import { createTestDatabase } from "./helpers/test-database.ts";

const db = await createTestDatabase();
const readToken = await createToken(db.sql, ["read"]);
const workerToken = await createToken(db.sql, ["worker"]);

Deno.test.afterAll(async () => {
  await db.drop();
});

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

/** Open file descriptors allowed: 1,000 subscribers in this process need two each (client and server). */
function openFileLimit(): number {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n").find((l) =>
      l.startsWith("Max open files")
    );
    return Number(line?.split(/\s{2,}/)[1] ?? Infinity);
  } catch {
    return Infinity;
  }
}

/**
 * This process's RSS after a full garbage collection when the runner exposes gc (test/run-all.ts does):
 * what is still held, not the garbage a loaded machine has not yet collected.
 */
function settledRss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().rss;
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

Deno.test({
  name: "1,000 concurrent subscribers on one run all receive every event",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: openFileLimit() < 2500,
  fn: async () => {
    const server = await startStreamServer(db.url);
    try {
      const runId = await insertRun(db.sql);
      const subs: Subscriber[] = [];
      const t0 = performance.now();
      for (let batch = 0; batch < 5; batch++) {
        const opened = Array.from({ length: 200 }, () => {
          const sub = new Subscriber(`${server.wsUrl}/v1/runs/${runId}/stream`, readToken);
          subs.push(sub);
          return sub.opened;
        });
        await Promise.all(opened);
      }
      await until("all 1,000 are subscribed", () => server.hub.stats().runListeners === 1000);
      const t1 = performance.now();
      const run = new DrivenRun(db.sql, runId);
      await run.claim();
      for (let epoch = 1; epoch <= 20; epoch++) await run.epoch(epoch);
      await run.complete();
      const closes = await Promise.all(subs.map((s) => s.closed));
      const t2 = performance.now();
      const stored = await storedMessages(db.sql, runId);
      assert.equal(stored.length, 22);
      for (const [i, sub] of subs.entries()) {
        assert.deepEqual(sub.durable(), stored, `subscriber ${i}`);
        assert.equal(closes[i]!.code, 1000);
      }
      console.log(
        `1,000 subscribers connected in ${(t1 - t0).toFixed(0)} ms; 22 events x 1,000 delivered and ` +
          `all closed 1000 ${(t2 - t1).toFixed(0)} ms after the claim`,
      );
    } finally {
      await server.close();
    }
  },
});

test("subscribers that never read are closed with 1013, the others get everything, memory stays bounded", async () => {
  // 32 messages of slack: enough for a reader in this same process (it shares the event loop with the
  // server) on a loaded machine; a stuck subscriber is still sent 10 MB, 10× the limit.
  const limit = 1024 * 1024;
  const server = await startStreamServer(db.url, { limits: { maxBufferedBytes: limit, pingIntervalS: 0 } });
  try {
    const runId = await insertRun(db.sql);
    const connections = await Promise.all(
      Array.from(
        { length: 20 },
        () => RawWsClient.connect(`${server.wsUrl}/v1/runs/${runId}/stream`, readToken, { paused: true }),
      ),
    );
    for (const c of connections) assert.match(c.status, / 101 /);
    const stuck = connections.map((c) => c.client);
    const reader = new Subscriber(`${server.wsUrl}/v1/runs/${runId}/stream`, readToken);
    await reader.opened;
    await until("21 are subscribed", () => server.hub.stats().runListeners === 21);
    const run = new DrivenRun(db.sql, runId);
    await run.claim();
    const rssBefore = settledRss();
    // 320 events of 32 KB: 10 MB for each subscriber, 200 MB for the 20 stuck ones if nothing bounded them.
    const message = "x".repeat(32 * 1024);
    for (let i = 0; i < 320; i++) await appendEvent(db.sql, run.lease, "log", { message, i });
    await run.complete();
    assert.equal((await reader.closed).code, 1000);
    assert.deepEqual(reader.durable(), await storedMessages(db.sql, runId));
    await until("the stuck ones are dropped", () => server.hub.stats().runListeners === 0);
    const grownMb = (settledRss() - rssBefore) / 2 ** 20;
    console.log(`rss grew ${grownMb.toFixed(1)} MB while 200 MB were refused to 20 stuck subscribers`);
    assert.ok(grownMb < 80, `rss grew ${grownMb.toFixed(1)} MB`);
    // What a stuck one finds when it finally reads: a prefix in order, an error, close 1013.
    const one = stuck[0]!;
    one.resume();
    await until("the close frame is read", () => one.closeCode !== null);
    assert.equal(one.closeCode, 1013);
    const durable = one.messages.filter((m) => m.type !== "error");
    assert.deepEqual(durable.map((m) => m.seq), durable.map((_, i) => i + 1));
    assert.deepEqual(one.messages.at(-1)?.code, "slow_consumer");
    for (const s of stuck) s.close();
  } finally {
    await server.close();
  }
});

test("a congested subscriber gets progress coalesced to the newest, and every durable event", async () => {
  const server = await startStreamServer(db.url, {
    limits: { maxBufferedBytes: 64 * 2 ** 20, progressBufferedBytes: 16 * 1024, progressRetryMs: 20 },
  });
  const worker = new WorkerStream({ apiUrl: server.url, token: workerToken });
  worker.start();
  try {
    await until("the worker is connected", () => worker.connected);
    const runId = await insertRun(db.sql);
    const { client } = await RawWsClient.connect(`${server.wsUrl}/v1/runs/${runId}/stream`, readToken, {
      paused: true,
    });
    const run = new DrivenRun(db.sql, runId, worker);
    await run.claim();
    // 8 MB of durable events fill the kernel's buffers and the socket's queue.
    const message = "x".repeat(32 * 1024);
    for (let i = 0; i < 250; i++) run.lastSeq = await appendEvent(db.sql, run.lease, "log", { message, i });
    await sleep(200);
    for (let batch = 1; batch <= 500; batch++) run.progress(1, batch);
    await sleep(200);
    client.resume();
    // Once the queue drains, the newest progress goes out (an event after it would make it stale).
    await until("a progress message arrives", () => client.messages.some((m) => m.type === "progress"));
    await run.epoch(1);
    await run.complete();
    await until("the stream ends", () => client.closeCode !== null, 20_000);
    assert.equal(client.closeCode, 1000);
    const durable = client.messages.filter((m) => m.type !== "progress");
    assert.deepEqual(durable, await storedMessages(db.sql, runId));
    const progress = client.messages.filter((m) => m.type === "progress");
    console.log(`500 progress messages published, ${progress.length} sent to the congested subscriber`);
    assert.ok(progress.length >= 1 && progress.length < 50, `${progress.length} progress messages`);
    assert.equal(progress.at(-1)?.batch, 500);
    client.close();
  } finally {
    await worker.close();
    await server.close();
  }
});

test("a peer that stops answering pings is dropped", async () => {
  const server = await startStreamServer(db.url, { limits: { pingIntervalS: 1 } });
  try {
    const runId = await insertRun(db.sql);
    const { client } = await RawWsClient.connect(`${server.wsUrl}/v1/runs/${runId}/stream`, readToken, {
      answerPings: false,
    });
    await until("it is subscribed", () => server.hub.stats().runListeners === 1);
    const t0 = performance.now();
    await until("it is dropped", () => server.hub.stats().runListeners === 0, 5000);
    const ms = performance.now() - t0;
    assert.ok(ms < 4000, `dropped after ${ms.toFixed(0)} ms`);
    client.close();
  } finally {
    await server.close();
  }
});

test("an SSE client that goes away is forgotten", async () => {
  const server = await startStreamServer(db.url);
  try {
    const runId = await insertRun(db.sql);
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/runs/${runId}/events`, {
      headers: { authorization: `Bearer ${readToken}` },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    await until("it is subscribed", () => server.hub.stats().runListeners === 1);
    controller.abort();
    await res.body?.cancel().catch(() => {});
    await until("it is forgotten", () => server.hub.stats().runListeners === 0, 5000);
  } finally {
    await server.close();
  }
});
