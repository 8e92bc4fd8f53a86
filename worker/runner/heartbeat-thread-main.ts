// The heartbeat thread (node:worker_threads; started by heartbeat-thread.ts). A TensorFlow.js training
// step is synchronous: a ResNet56 step on wasm blocks the main thread's event loop for 8–30 s, longer
// than a lease. Renewals made with the main thread's timers would then stop, the lease would expire and
// a healthy worker would lose its run. This thread has its own event loop and its own Postgres
// connection, so it renews every HEARTBEAT_S whatever the main thread is doing, and writes what it
// learns into the run's SharedArrayBuffer, which the main thread reads between batches without yielding.
//
// It renews only while the main thread is alive: the main thread stamps MAIN_ALIVE from a timer, and a
// main thread whose event loop has not turned for `stallMs` (a wedged process, not a slow step) is
// no longer covered, so its lease runs out and the reaper hands the run to another worker.
import { parentPort, workerData } from "node:worker_threads";
import postgres from "postgres";
import { isDatabaseUnreachable, reconnectBackoffS } from "../../shared/db/database-unreachable.ts";
import { transactionPoolerOptions } from "../../shared/db/transaction-pooler.ts";
import { heartbeatRun } from "../../shared/queue/heartbeat-run.ts";
import { LeaseLostError } from "../../shared/queue/lease-lost-error.ts";
import type { Lease } from "../../shared/queue/queue-types.ts";
import {
  ALIVE_AT,
  type BeatOutcome,
  DEADLINE,
  FLAG_CANCEL,
  FLAG_LOST,
  FLAGS,
  type FromThread,
  type HeartbeatThreadData,
  monotonicMs,
  type ToThread,
} from "./heartbeat-shared.ts";
import type { LogLevel } from "../../shared/logger.ts";
import { OutageLog } from "../../shared/outage-log.ts";

const data = workerData as HeartbeatThreadData;
const port = parentPort!;
const post = (m: FromThread) => port.postMessage(m);
const log = (line: string, level?: LogLevel) => post({ type: "log", line, ...(level ? { level } : {}) });

const sql = postgres(data.url, {
  max: 1,
  onnotice: () => {},
  backoff: reconnectBackoffS,
  ...transactionPoolerOptions(data.url),
  // Busy, this connection is used every HEARTBEAT_S; idle between runs it is closed, so an idle worker
  // holds only its pool and LISTEN connections.
  idle_timeout: Math.max(data.leaseS, 3 * data.heartbeatS),
  connection: { application_name: data.applicationName },
});

interface Held {
  lease: Lease;
  flags: Int32Array;
  times: BigInt64Array;
}

const alive = new BigInt64Array(data.alive);
let held: Held | null = null;
const inFlight = new Map<string, Promise<BeatOutcome>>();
let stallLogged = false;
/** One line when renewals stop reaching the database and one when they reach it again (shared/outage-log.ts). */
const outage = new OutageLog(log, monotonicMs);

const timer = setInterval(() => void beat(), data.heartbeatS * 1000);

port.on("message", (m: ToThread) => {
  switch (m.type) {
    case "hold":
      held = toHeld(m.lease, m.shared);
      stallLogged = false;
      break;
    case "release":
      if (held && held.lease.runId === m.runId && held.lease.attempt === m.attempt) held = null;
      break;
    case "beat":
      // Carries its lease: the main thread may ask for one last renewal after it stopped holding it
      // (before its final fenced write, past the local deadline).
      void beat(toHeld(m.lease, m.shared), true).then((outcome) => post({ type: "beaten", id: m.id, outcome }));
      break;
    case "close":
      clearInterval(timer);
      held = null;
      void sql.end({ timeout: 1 }).finally(() => post({ type: "closed" }));
      break;
  }
});

function toHeld(lease: Lease, shared: SharedArrayBuffer): Held {
  return { lease, flags: new Int32Array(shared, 0, 2), times: new BigInt64Array(shared) };
}

/** One renewal of `run` (default: the held lease), joining one in flight for it; never throws. */
function beat(run: Held | null = held, askedByMain = false): Promise<BeatOutcome> {
  if (run === null) return Promise.resolve("skipped");
  const key = `${run.lease.runId}/${run.lease.attempt}`;
  let p = inFlight.get(key);
  if (p === undefined) {
    p = renew(run, askedByMain).finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  }
  return p;
}

async function renew(run: Held, askedByMain: boolean): Promise<BeatOutcome> {
  if ((Atomics.load(run.flags, FLAGS) & FLAG_LOST) !== 0) return "lost";
  const sentAt = monotonicMs();
  const stalledMs = sentAt - Number(Atomics.load(alive, ALIVE_AT));
  // A renewal the main thread asked for proves it runs (its alive stamp may not have caught up yet).
  if (!askedByMain && stalledMs > data.stallMs) {
    if (!stallLogged) {
      log(`run ${run.lease.runId}: the main thread has not run for ${Math.round(stalledMs / 1000)} s; ` +
        `no more renewals until it does (the lease will expire and the run go to another worker)`, "warn");
    }
    stallLogged = true;
    return "skipped";
  }
  stallLogged = false;
  // A renewal that hangs (dead connection) must not hold up the next one: wait one interval at most.
  let timeout: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((r) => (timeout = setTimeout(() => r("timeout"), data.heartbeatS * 1000)));
  try {
    const answer = await Promise.race([heartbeatRun(sql, run.lease, data.leaseS), timedOut]);
    if (answer === "timeout") {
      log(`run ${run.lease.runId}: heartbeat got no answer within ${data.heartbeatS} s`, "warn");
      return "unreachable";
    }
    outage.up((s) => `run ${run.lease.runId}: heartbeats reach the database again (after ${s} s)`);
    // The server computed the new expiry from an instant after sentAt: the lease surely lasts this long.
    const deadline = BigInt(Math.floor(sentAt + data.leaseS * 1000));
    if (deadline > Atomics.load(run.times, DEADLINE)) Atomics.store(run.times, DEADLINE, deadline);
    if (answer.cancelRequested && (Atomics.or(run.flags, FLAGS, FLAG_CANCEL) & FLAG_CANCEL) === 0) {
      log(`run ${run.lease.runId}: cancel requested (seen in heartbeat)`);
    }
    return "renewed";
  } catch (e) {
    if (e instanceof LeaseLostError) {
      Atomics.or(run.flags, FLAGS, FLAG_LOST);
      // A timer's renewal of a run released meanwhile raced the run's own end (released just before its
      // last write, which committed first): nothing was lost, so nothing is said.
      if (askedByMain || held === run) post({ type: "lost", runId: run.lease.runId, attempt: run.lease.attempt, message: e.message });
      return "lost";
    }
    if (!isDatabaseUnreachable(e)) {
      log(`run ${run.lease.runId}: heartbeat failed: ${(e as Error).message}`, "warn");
    } else {
      // postgres.js opens a new connection for the next renewal: nothing to do but try again.
      outage.down(`run ${run.lease.runId}: heartbeat cannot reach the database (${(e as Error).message}); retrying every ${data.heartbeatS} s`);
    }
    return "unreachable";
  } finally {
    clearTimeout(timeout);
  }
}

post({ type: "ready" });
