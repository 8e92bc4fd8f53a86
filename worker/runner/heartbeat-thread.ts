/**
 * The worker's heartbeat thread, seen from the main thread: one node:worker_threads Worker for the
 * worker's lifetime, with its own Postgres connection, that renews the lease of the run it is told to
 * hold every HEARTBEAT_S, even while a synchronous training step blocks the main thread (see
 * heartbeat-thread-main.ts). Per run, {@link LeaseKeeper} hands it the lease and a SharedArrayBuffer and
 * reads the answers from there.
 *
 * @example
 * const heartbeats = new HeartbeatThread({ url, applicationName: "worker w1 heartbeat", leaseS: 30, heartbeatS: 10, log });
 * const keeper = new LeaseKeeper(heartbeats, run, { leaseS: 30, heartbeatS: 10, log }, claimSentAt);
 * await heartbeats.close();
 */
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Lease } from "../../shared/queue/queue-types.ts";
import {
  ALIVE_AT,
  ALIVE_BYTES,
  type BeatOutcome,
  type FromThread,
  type HeartbeatThreadData,
  monotonicMs,
  type ToThread,
} from "./heartbeat-shared.ts";
import type { LineLog } from "../../shared/logger.ts";

export interface HeartbeatThreadOptions {
  url: string;
  applicationName: string;
  leaseS: number;
  heartbeatS: number;
  log: LineLog;
  /**
   * Renew only while the main thread's event loop turned within this many ms (default the larger of
   * 10 minutes and 4 leases: a training step blocks for seconds, not minutes; a wedged process
   * must not keep its run forever).
   */
  stallMs?: number;
  /** The thread died (it should not): the worker can no longer keep leases and should exit. */
  onFailure?: (error: Error) => void;
}

export class HeartbeatThread {
  readonly #worker: Worker;
  readonly #alive = new SharedArrayBuffer(ALIVE_BYTES);
  readonly #aliveTimer: NodeJS.Timeout;
  readonly #beats = new Map<number, (outcome: BeatOutcome) => void>();
  #nextBeat = 1;
  #closing = false;
  #closed: Promise<void> | null = null;

  constructor(private readonly o: HeartbeatThreadOptions) {
    const aliveAt = new BigInt64Array(this.#alive);
    const stamp = () => Atomics.store(aliveAt, ALIVE_AT, BigInt(monotonicMs()));
    stamp();
    // A timer, not the trainer's calls: it measures whether the event loop turns at all, so a long
    // validation pass (no hooks for minutes, but the loop turns between batches) is not a stall.
    this.#aliveTimer = setInterval(stamp, Math.min(1000, o.heartbeatS * 500));
    this.#aliveTimer.unref();
    const data: HeartbeatThreadData = {
      url: o.url,
      applicationName: o.applicationName,
      leaseS: o.leaseS,
      heartbeatS: o.heartbeatS,
      stallMs: o.stallMs ?? Math.max(600_000, 4 * o.leaseS * 1000),
      alive: this.#alive,
    };
    const entry = fileURLToPath(new URL("./heartbeat-thread-main.ts", import.meta.url));
    // Under tsx (`node --import tsx`), loader hooks do not reach worker threads on Node 20: the thread
    // registers tsx itself before loading its TypeScript entry. The require hook, not the ESM one: that
    // one starts yet another loader thread per worker (430 ms of CPU per start against 180 ms, which
    // 20 workers starting at once on two cores feel).
    const source = `require("tsx/cjs/api").register(); require(${JSON.stringify(entry)});`;
    this.#worker = new Worker(source, { eval: true, workerData: data });
    this.#worker.unref();
    this.#worker.on("message", (m: FromThread) => this.#onMessage(m));
    this.#worker.on("error", (e) => this.#fail(e));
    this.#worker.on("exit", (code) => {
      if (!this.#closing) this.#fail(new Error(`the heartbeat thread exited (code ${code})`));
    });
  }

  /** Renew `lease` from now on, writing answers into `shared` (see heartbeat-shared.ts). */
  hold(lease: Lease, shared: SharedArrayBuffer): void {
    this.#post({ type: "hold", lease, shared });
  }

  release(lease: Lease): void {
    this.#post({ type: "release", runId: lease.runId, attempt: lease.attempt });
  }

  /** One renewal now (joins one in flight); resolves with what it learned, or "skipped" once closed. */
  beatNow(lease: Lease, shared: SharedArrayBuffer): Promise<BeatOutcome> {
    if (this.#closing) return Promise.resolve("skipped");
    const id = this.#nextBeat++;
    return new Promise((resolve) => {
      this.#beats.set(id, resolve);
      this.#post({ type: "beat", id, lease, shared });
    });
  }

  /** Stops renewing and closes the thread's connection. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      clearInterval(this.#aliveTimer);
      const closed = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        this.#worker.once("exit", () => (clearTimeout(timer), resolve()));
        this.#worker.on("message", (m: FromThread) => {
          if (m.type === "closed") void this.#worker.terminate();
        });
      });
      this.#post({ type: "close" });
      await closed;
      await this.#worker.terminate();
      for (const resolve of this.#beats.values()) resolve("skipped");
      this.#beats.clear();
    })();
    return this.#closed;
  }

  #post(m: ToThread): void {
    this.#worker.postMessage(m);
  }

  #onMessage(m: FromThread): void {
    switch (m.type) {
      case "log":
        this.o.log(m.line, m.level);
        break;
      case "beaten":
        this.#beats.get(m.id)?.(m.outcome);
        this.#beats.delete(m.id);
        break;
      case "lost":
        // The shared flag is set already; the trainer sees it at its next batch. Say so now.
        this.o.log(`run ${m.runId} attempt ${m.attempt}: heartbeat rejected: ${m.message}`, "warn");
        break;
      case "ready":
      case "closed":
        break;
    }
  }

  #fail(e: Error): void {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#aliveTimer);
    for (const resolve of this.#beats.values()) resolve("skipped");
    this.#beats.clear();
    this.o.log(`heartbeat thread failed: ${e.message}`, "error");
    this.o.onFailure?.(e);
  }
}
