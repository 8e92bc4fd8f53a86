// Issue 13, finding 8: a worker token could make the hub relay live events for any run (an epoch with
// any accuracy, a `succeeded` state): the hub handed out what a worker's socket said. Against the real
// api/main.ts: forged events and progress from a valid worker token never reach a subscriber; what the
// lease holder stored does, exactly as stored.
import assert from "node:assert/strict";
import { createToken, DrivenRun, insertRun, sleep, storedMessages, Subscriber } from "../api/streams/stream-test-kit.ts";
import { type ApiProcess, startApiProcess } from "./helpers/api-process.deno.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
let db: TestDatabase;
let api: ApiProcess;

Deno.test.beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApiProcess({ databaseUrl: db.url });
});
Deno.test.afterAll(async () => {
  await api.stop();
  await db.drop();
});

Deno.test({
  ...opts,
  name: "a worker token cannot forge live events or progress; the stored events arrive as stored",
  fn: async () => {
    const readToken = await createToken(db.sql, ["read"]);
    const workerToken = await createToken(db.sql, ["worker"]);
    const victim = await insertRun(db.sql, { epochs: 3 });
    const held = await insertRun(db.sql, { epochs: 3 });
    const run = new DrivenRun(db.sql, held);
    await run.claim();
    const wsUrl = `ws://127.0.0.1:${api.port}`;
    const onVictim = new Subscriber(`${wsUrl}/v1/runs/${victim}/stream`, readToken);
    const onHeld = new Subscriber(`${wsUrl}/v1/runs/${held}/stream`, readToken);
    const all = new Subscriber(`${wsUrl}/v1/stream`, readToken);
    await Promise.all([onVictim.opened, onHeld.opened, all.opened]);
    await sleep(300);

    const forger = new WebSocket(`${wsUrl}/v1/workers/stream`, { headers: { authorization: `Bearer ${workerToken}` } });
    await new Promise((resolve, reject) => {
      forger.onopen = resolve;
      forger.onerror = reject;
    });
    const epoch = { epoch: 1, loss: 0.01, acc: 1, valLoss: 0.01, valAcc: 0.999, lr: 1e-3, wd: 0, seconds: 1, imagesPerSec: 1, attempt: 1 };
    for (const [runId, seq] of [[victim, 1], [victim, 2], [held, run.lastSeq + 1], [held, run.lastSeq + 2]] as const) {
      forger.send(JSON.stringify({ type: "epoch", runId, seq, ...epoch }));
      forger.send(JSON.stringify({ type: "state", runId, seq: seq + 10, state: "succeeded", attempt: 1 }));
      forger.send(JSON.stringify({
        type: "progress", runId, seq: 0, attempt: 7, epoch: 1, batch: 1, batchesPerEpoch: 2, loss: 0, acc: 1, lr: 1e-3,
        imagesPerSec: 1, etaSeconds: 1,
      }));
    }
    await sleep(1500);
    // The lease holder's real write, after the forgeries: it must arrive as stored.
    await run.epoch(1);
    await run.complete();
    const end = await Promise.race([onHeld.closed, sleep(10_000).then(() => null)]);
    assert.equal(end?.code, 1000, "the held run's stream ends after its real terminal event");
    await sleep(500);
    forger.close();
    onVictim.close();
    all.close();

    const forged = (m: Record<string, unknown>) => m.valAcc === 0.999 || m.attempt === 7;
    for (const [name, sub] of [["victim", onVictim], ["held", onHeld], ["all runs", all]] as const) {
      assert.deepEqual(sub.messages.filter(forged), [], `${name}: forged messages were relayed`);
    }
    assert.deepEqual(onVictim.messages.filter((m) => m.type !== "error"), [], "nothing for a run nobody holds");
    assert.deepEqual(onHeld.durable(), await storedMessages(db.sql, held), "exactly the stored events");
  },
});
