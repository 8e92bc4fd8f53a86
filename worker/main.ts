// `npm run worker`: one worker process. Reads the environment (shared/config.ts plus
// worker-options.ts), opens Postgres at DATABASE_URL, picks the trainer (TRAINER=real selects the tf
// backend), installs signal handlers, and runs the claim → train → record loop until drained.
//   SIGTERM / SIGINT: stop claiming, finish the current batch, checkpoint, release the run (attempt not
//   spent), exit within 30 s. A second signal exits at once.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { checkpointStoreKind, checkWorkerTimings, ConfigError, loadConfig } from "../shared/config.ts";
import { createLogger, lineLog } from "../shared/logger.ts";
import { reconnectBackoffS } from "../shared/db/database-unreachable.ts";
import { throughTransactionPooler, transactionPoolerOptions } from "../shared/db/transaction-pooler.ts";
import { stopsWithParent, watchParent } from "../shared/watch-parent.ts";
import { fakeTrainer } from "./fake-trainer.ts";
import { createCheckpointStore } from "./runner/checkpoint-store.ts";
import { HeartbeatThread } from "./runner/heartbeat-thread.ts";
import type { Trainer } from "./runner/trainer.ts";
import { WorkerLoop } from "./runner/worker-loop.ts";
import { WorkerStream } from "./stream/worker-stream.ts";
import { loadWorkerOptions } from "./worker-options.ts";

const DRAIN_LIMIT_MS = 30_000;
const REPEAT_WINDOW_MS = 1000;

let config, options;
try {
  config = loadConfig(process.env);
  options = loadWorkerOptions(process.env);
  checkWorkerTimings(process.env);
  if (config.DATABASE_URL === undefined) {
    throw new ConfigError("Invalid configuration:\n  DATABASE_URL: required by a worker (got null)");
  }
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(e.message);
  process.exit(2);
}
const url = config.DATABASE_URL!;
const workerId = options.WORKER_ID ?? `${hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
const logger = createLogger({
  level: config.LOG_LEVEL,
  format: config.LOG_FORMAT ?? "text",
  fields: { worker: workerId },
  write: (line) => console.log(line),
});
/** The runner's lines: a level when it is not info (a warning survives LOG_LEVEL=warn). */
const log = lineLog(logger);

const trainer: Trainer = options.TRAINER === "fake"
  ? fakeTrainer({
    batchMs: options.FAKE_BATCH_MS,
    batchesPerEpoch: options.FAKE_BATCHES,
    blockMs: options.FAKE_BLOCK_MS,
    checkpointBytes: options.FAKE_CHECKPOINT_BYTES,
    finalMs: options.FAKE_FINAL_MS,
  })
  : await (await import("./runner/real-trainer.ts")).createRealTrainer(config, log);

// One connection for everything on the main thread (claims, fenced writes, reaping: postgres.js
// pipelines them, except through a transaction pooler: shared/db/transaction-pooler.ts), the dedicated LISTEN one, and, while a run is held, the heartbeat thread's: a
// training step blocks this thread for seconds, so leases are renewed from another one. Busy workers
// hold three, idle ones two: 33 busy workers fit a default max_connections of 100.
const sql = postgres(url, {
  max: 1,
  onnotice: () => {},
  backoff: reconnectBackoffS,
  ...transactionPoolerOptions(url),
  connection: {
    application_name: `worker ${workerId}`,
    // A worker never holds a transaction open between statements; if one ever does (a frozen process),
    // the server ends it rather than let its locks block the reaper.
    idle_in_transaction_session_timeout: config.LEASE_S * 1000,
  },
});

// Exits rather than train on without renewals: the supervisor restarts the worker, and the run's lease
// runs out and the reaper hands it to another.
const heartbeats = new HeartbeatThread({
  url,
  applicationName: `worker ${workerId} heartbeat`,
  leaseS: config.LEASE_S,
  heartbeatS: config.HEARTBEAT_S,
  log,
  onFailure: (e) => {
    console.error(`worker ${workerId}: fatal: the heartbeat thread failed: ${e.stack ?? e.message}`);
    process.exit(1);
  },
});

if (throughTransactionPooler(url)) {
  log(`DATABASE_URL has prepare=false (a transaction pooler): statements are sent one at a time${
    options.LISTEN === "on" ? "; LISTEN=on hears nothing through a transaction pooler, set LISTEN=off (idle workers then poll every POLL_MS)" : ""
  }`);
}

// The socket to the API (issue 7): fire and forget, training never waits on it. Without API_URL and
// WORKER_TOKEN the worker still works: every durable event reaches subscribers through Postgres NOTIFY;
// only progress between epochs is not seen.
let stream: WorkerStream | null = null;
if (config.API_URL !== undefined && config.WORKER_TOKEN !== undefined) {
  stream = new WorkerStream({ apiUrl: config.API_URL, token: config.WORKER_TOKEN, log });
  stream.start();
} else if (config.API_URL !== undefined || config.WORKER_TOKEN !== undefined) {
  log(`${config.API_URL === undefined ? "API_URL" : "WORKER_TOKEN"} is not set: no live stream to the API (epochs still reach subscribers via Postgres)`);
}

const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
const loop = new WorkerLoop({
  sql,
  url,
  info: { id: workerId, host: hostname(), pid: process.pid, backend: trainer.backend, device: trainer.device, version },
  heartbeats,
  stream,
  trainer,
  leaseS: config.LEASE_S,
  heartbeatS: config.HEARTBEAT_S,
  pollMs: config.POLL_MS,
  checkpoints: createCheckpointStore({
    kind: checkpointStoreKind(config),
    sql,
    dir: config.CHECKPOINT_DIR ?? path.join(config.DATA_DIR, "checkpoints"),
  }),
  listen: options.LISTEN === "on",
  log,
});

let firstSignalAt: number | null = null;
function onSignal(signal: string): void {
  if (firstSignalAt !== null) {
    if (Date.now() - firstSignalAt < REPEAT_WINDOW_MS) return; // one Ctrl-C delivered twice (terminal + npm)
    log(`${signal} again: exiting now`);
    process.exit(130);
  }
  firstSignalAt = Date.now();
  log(`${signal}: draining (signal again to exit at once)`);
  loop.drain();
  setTimeout(() => {
    log(`drain took longer than ${DRAIN_LIMIT_MS / 1000} s: exiting; the run's lease will expire`, "warn");
    process.exit(1);
  }, DRAIN_LIMIT_MS).unref();
}
process.on("SIGTERM", onSignal);
process.on("SIGINT", onSignal);
// Under `npm run worker` (which execs us, so npm passes signals on) or `npm start`'s supervisor: a parent
// that dies without passing the signal on (kill -9) must not leave us running as an orphan.
if (stopsWithParent(process.env, process.argv)) watchParent(() => process.ppid, () => onSignal("parent exited"));

try {
  await loop.run();
  await Promise.all([stream?.close(), heartbeats.close()]);
  await sql.end({ timeout: 5 });
  log("stopped");
  process.exit(0);
} catch (e) {
  console.error(`worker ${workerId}: fatal: ${(e as Error).stack ?? e}`);
  process.exit(1);
}
