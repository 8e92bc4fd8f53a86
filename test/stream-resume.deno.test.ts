// The resume torture test: one client drops its connection 200 times at random moments while a run is
// writing events (through the queue's real fenced writers, with a worker socket also pushing them and
// progress); resuming each time with ?after=<last seq>, it must reassemble exactly the stored events.
import assert from "node:assert/strict";
import {
  createToken,
  DrivenRun,
  insertRun,
  sleep,
  startStreamServer,
  storedMessages,
  Subscriber,
} from "../api/streams/stream-test-kit.ts";
import { WorkerStream } from "../worker/stream/worker-stream.ts";
import { createTestDatabase } from "./helpers/test-database.ts";

const db = await createTestDatabase();
const server = await startStreamServer(db.url);

Deno.test.afterAll(async () => {
  await server.close();
  await db.drop();
});

/** A small seeded PRNG, so a failure can be replayed with the seed it prints. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test({
  name: "200 random disconnects and resumes during a run reassemble exactly the stored events",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const seed = Number(Deno.env.get("STREAM_TORTURE_SEED") ?? Date.now() % 1_000_000);
    const random = mulberry32(seed);
    const readToken = await createToken(db.sql, ["read"]);
    const worker = new WorkerStream({ apiUrl: server.url, token: await createToken(db.sql, ["worker"]) });
    worker.start();
    while (!worker.connected) await sleep(5);

    const runId = await insertRun(db.sql, { epochs: 1000 });
    const run = new DrivenRun(db.sql, runId, worker);
    await run.claim();
    const got: Record<string, unknown>[] = [];
    const take = (sub: Subscriber) => {
      for (const m of sub.durable()) {
        assert.equal(m.seq, got.length + 1, `seed ${seed}: gap or duplicate at seq ${m.seq}`);
        got.push(m);
      }
      for (const m of sub.messages) {
        if (m.type === "progress") {
          assert.ok((m.seq as number) <= got.length, `seed ${seed}: progress ahead of its event`);
        }
      }
    };
    let midReplay = 0;
    const reconnect200 = async () => {
      for (let i = 0; i < 200; i++) {
        const sub = new Subscriber(`${server.wsUrl}/v1/runs/${runId}/stream?after=${got.length}`, readToken);
        const r = random();
        if (r < 0.1) {
          // Before the handshake completes.
          sub.close();
        } else {
          await sub.opened;
          if (r < 0.3) {
            // During the replay: as soon as the first message arrives.
            await sub.waitFor((m) => m.length > 0, 5000).catch(() => {});
            midReplay++;
          } else {
            await sleep(random() * 25);
          }
          sub.close();
        }
        const closed = await sub.closed;
        // 0: closed before the handshake finished.
        assert.ok(
          [0, 1000, 1005, 1006].includes(closed.code),
          `unexpected close ${closed.code} ${closed.reason}`,
        );
        take(sub);
      }
    };

    let producing = true;
    const producer = (async () => {
      for (let epoch = 1; producing; epoch++) {
        await run.epoch(epoch);
        for (let batch = 1; batch <= 3; batch++) run.progress(epoch + 1, batch);
        await sleep(random() * 4);
      }
      await run.complete();
    })();
    try {
      await reconnect200();
    } finally {
      producing = false;
      await producer;
    }
    const last = new Subscriber(`${server.wsUrl}/v1/runs/${runId}/stream?after=${got.length}`, readToken);
    assert.equal((await last.closed).code, 1000);
    take(last);

    const stored = await storedMessages(db.sql, runId);
    assert.ok(stored.length > 200, `the run wrote only ${stored.length} events`);
    assert.deepEqual(got, stored, `seed ${seed}`);
    assert.equal(got.at(-1)?.state, "succeeded");
    const stats = server.hub.stats();
    console.log(
      `seed ${seed}: ${stored.length} events, ${midReplay} drops mid-replay; hub: ${stats.fromWorker} first from the worker socket, ` +
        `${stats.delivered - stats.fromWorker} from NOTIFY/table, ${stats.duplicates} duplicates dropped`,
    );
    await worker.close();
  },
});
