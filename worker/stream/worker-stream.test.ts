import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { WebSocketServer } from "ws";
import { RunPublisher } from "./run-publisher.ts";
import { WorkerStream } from "./worker-stream.ts";

const RUN = "0b7e4b0e-4f1c-4a57-9d0e-7d2a3c1e9f10";

async function server(opts: { autoPong?: boolean } = {}) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, autoPong: opts.autoPong ?? true });
  await new Promise((r) => wss.once("listening", r));
  const received: unknown[] = [];
  const auth: (string | undefined)[] = [];
  const paths: (string | undefined)[] = [];
  wss.on("connection", (socket, req) => {
    auth.push(req.headers.authorization);
    paths.push(req.url);
    socket.on("message", (d) => received.push(JSON.parse(String(d))));
  });
  const port = (wss.address() as AddressInfo).port;
  return { wss, received, auth, paths, url: `http://127.0.0.1:${port}` };
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("WorkerStream: publishing while disconnected never throws or waits, and counts the drop", async () => {
  const stream = new WorkerStream({ apiUrl: "http://127.0.0.1:9", token: "rjt_x", minBackoffMs: 10_000 });
  stream.start();
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) {
    stream.publishProgress({
      runId: RUN, seq: 0, attempt: 1, epoch: 1, batch: i, batchesPerEpoch: 1000, loss: 1, acc: 0.5, lr: 1e-3,
      imagesPerSec: 0, etaSeconds: 0,
    });
  }
  assert.ok(performance.now() - t0 < 50);
  assert.equal(stream.stats.dropped, 1000);
  await stream.close();
});

test("WorkerStream: sends the bearer token to /v1/workers/stream, reconnects with backoff after a drop", async () => {
  const s = await server();
  const stream = new WorkerStream({ apiUrl: s.url, token: "rjt_worker", minBackoffMs: 20, maxBackoffMs: 100 });
  stream.start();
  await until(() => stream.connected);
  assert.deepEqual(s.auth, ["Bearer rjt_worker"]);
  assert.deepEqual(s.paths, ["/v1/workers/stream"]);
  stream.publishEvent({ runId: RUN, seq: 3, type: "epoch", payload: { epoch: 1, loss: 2 } });
  await until(() => s.received.length === 1);
  assert.deepEqual(s.received[0], { type: "epoch", runId: RUN, seq: 3, epoch: 1, loss: 2 });
  for (const c of s.wss.clients) c.terminate();
  await until(() => !stream.connected);
  await until(() => stream.connected);
  assert.equal(stream.stats.connects, 2);
  stream.publishEvent({ runId: RUN, seq: 4, type: "epoch", payload: { epoch: 2, loss: 1 } });
  await until(() => s.received.length === 2);
  await stream.close();
  s.wss.close();
});

test("WorkerStream: an API that stops answering pings is left and dialled again", async () => {
  const s = await server({ autoPong: false });
  const lines: string[] = [];
  const stream = new WorkerStream({
    apiUrl: s.url, token: "rjt_worker", pingMs: 50, minBackoffMs: 10, maxBackoffMs: 20, log: (l) => lines.push(l),
  });
  stream.start();
  await until(() => stream.stats.connects >= 2);
  assert.ok(lines.some((l) => l.includes("no pong")));
  await stream.close();
  s.wss.close();
});

test("RunPublisher: epochs as stored, progress every N batches with images/s and ETA", () => {
  const sent: Record<string, unknown>[] = [];
  const stream = {
    publishEvent: (e: { runId: string; seq: number; type: string; payload: Record<string, unknown> }) =>
      sent.push({ type: e.type, seq: e.seq, ...e.payload }),
    publishProgress: (p: Record<string, unknown>) => sent.push({ type: "progress", ...p }),
  };
  let now = 0;
  const publisher = new RunPublisher(stream, { runId: RUN, attempt: 2, epochs: 2, batchSize: 50, lastSeq: 1 }, {
    everyBatches: 10,
    minIntervalMs: 0,
    now: () => now,
  });
  for (let batch = 1; batch <= 100; batch++) {
    now += 100; // 10 batches/s × 50 images = 500 images/s
    publisher.progress({ epoch: 1, batch, batchesPerEpoch: 100, loss: 1, acc: 0.5, lr: 1e-3 });
  }
  publisher.epochCommitted(2, {
    epoch: 1, loss: 1, acc: 0.5, valLoss: 1.1, valAcc: 0.4, lr: 1e-3, wd: 1e-4, seconds: 10, imagesPerSec: 500,
  });
  const progress = sent.filter((m) => m.type === "progress");
  assert.equal(progress.length, 10);
  const last = progress.at(-1)!;
  assert.equal(last.seq, 1);
  assert.equal(last.attempt, 2);
  assert.ok(Math.abs((last.imagesPerSec as number) - 500) < 1e-9);
  // 100 batches left × 50 images / 500 images/s
  assert.ok(Math.abs((last.etaSeconds as number) - 10) < 1e-9);
  assert.deepEqual(sent.at(-1), {
    type: "epoch", seq: 2, epoch: 1, loss: 1, acc: 0.5, valLoss: 1.1, valAcc: 0.4, lr: 1e-3, wd: 1e-4, seconds: 10,
    imagesPerSec: 500, attempt: 2,
  });
  publisher.progress({ epoch: 2, batch: 10, batchesPerEpoch: 100, loss: 1, acc: 0.5, lr: 1e-3 });
  assert.equal(sent.at(-1)?.seq, 2);
});
