import { LeaseLostError } from "../../shared/queue/lease-lost-error.ts";
import type { Lease } from "../../shared/queue/queue-types.ts";
import { type BeatOutcome, DEADLINE, FLAG_CANCEL, FLAG_LOST, FLAGS, monotonicMs, RUN_BYTES } from "./heartbeat-shared.ts";
import type { HeartbeatThread } from "./heartbeat-thread.ts";
import type { LineLog } from "../../shared/logger.ts";
import { OutageLog } from "../../shared/outage-log.ts";

export interface LeaseKeeperOptions {
  leaseS: number;
  heartbeatS: number;
  log: LineLog;
  /**
   * Stop waiting for an unreachable database (the worker is draining: a shutdown must not wait for an
   * outage to end); default never.
   */
  giveUp?: () => boolean;
}

/**
 * One claim's lease, as the main thread sees it. The renewals themselves run on the worker's
 * {@link HeartbeatThread} every HEARTBEAT_S (a synchronous training step cannot delay them), which
 * writes into this keeper's SharedArrayBuffer: the lease's local deadline, a lost flag and a cancel
 * flag. Reading them takes no turn of the event loop, so the trainer sees them at its next batch.
 *
 * The deadline is conservative: the lease surely lasts until `send time of the last successful renewal
 * + LEASE_S` (the server computed its expiry from a later instant, on its own clock). Past that local
 * deadline (a frozen process, a stalled network) the worker may not write before it has renewed:
 * {@link check} then asks for one renewal and waits for it, and a renewal that is rejected (the run was
 * reaped: the database fences the write) loses the run. A renewal that cannot reach the database (it is
 * restarting, failing over) is no answer: the keeper waits, retrying, until the database says whether the
 * run is still this claim's, so an outage longer than a lease does not by itself cost the attempt (the
 * reaper gives leases a lease's grace after a server restart). Only a renewal that could not be made
 * at all (the thread is gone, or `giveUp()`) loses the run without an answer. A heartbeat's answer also carries the cancel flag, the fallback for a cancel
 * NOTIFY lost while the LISTEN connection was down.
 */
export class LeaseKeeper {
  #lost: LeaseLostError | null = null;
  #cancelRequested = false;
  #held = false;
  #inFlight: Promise<BeatOutcome> | null = null;
  readonly #flags: Int32Array;
  readonly #times: BigInt64Array;
  readonly #shared = new SharedArrayBuffer(RUN_BYTES);

  constructor(
    private readonly thread: HeartbeatThread,
    readonly lease: Lease,
    private readonly opts: LeaseKeeperOptions,
    /** performance.now() when the claim was sent: the claim's lease runs from no earlier than this. */
    claimSentAt: number,
  ) {
    this.#flags = new Int32Array(this.#shared, 0, 2);
    this.#times = new BigInt64Array(this.#shared);
    const sentAgoMs = performance.now() - claimSentAt;
    Atomics.store(this.#times, DEADLINE, BigInt(Math.floor(monotonicMs() - sentAgoMs + opts.leaseS * 1000)));
  }

  start(): void {
    if (this.#held || this.#lost) return;
    this.#held = true;
    this.thread.hold(this.lease, this.#shared);
  }

  stop(): void {
    if (!this.#held) return;
    this.#held = false;
    this.thread.release(this.lease);
  }

  /** Someone asked to cancel (learned from a heartbeat or a NOTIFY). */
  get cancelRequested(): boolean {
    return this.#cancelRequested || (Atomics.load(this.#flags, FLAGS) & FLAG_CANCEL) !== 0;
  }

  requestCancel(): void {
    this.#cancelRequested = true;
  }

  /** Why the run was lost, or null while it is still ours. */
  get lost(): LeaseLostError | null {
    if (this.#lost === null && (Atomics.load(this.#flags, FLAGS) & FLAG_LOST) !== 0) {
      // The thread's renewal matched no running row: heartbeatRun's own verdict.
      this.markLost(new LeaseLostError(this.lease, "heartbeat"));
    }
    return this.#lost;
  }

  /**
   * Call before every write and between batches: throws when the run is lost. Past the local deadline
   * it first renews (waiting for the answer), so a worker that was frozen learns from the database
   * whether its run was taken, and writes nothing until it knows.
   */
  async check(): Promise<void> {
    if (this.lost) throw this.#lost!;
    const pause = new OutageLog(this.opts.log, monotonicMs);
    while (monotonicMs() > this.#deadline()) {
      const outcome = await this.beat();
      if (this.lost) throw this.#lost!;
      if (monotonicMs() <= this.#deadline()) break;
      if (outcome === "unreachable" && !this.opts.giveUp?.()) {
        pause.down(`run ${this.lease.runId}: lease not renewed for LEASE_S (${this.opts.leaseS} s) and the database ` +
          `cannot be reached: pausing until it answers whether the run is still ours`);
        await new Promise((r) => setTimeout(r, Math.min(1000, this.opts.heartbeatS * 500)));
        continue;
      }
      this.markLost(new LeaseLostError(this.lease, "renewing the lease",
        `Lost the lease on run ${this.lease.runId}: no renewal succeeded for LEASE_S (${this.opts.leaseS} s)` +
          (outcome === "unreachable" ? " and the worker is stopping while the database cannot be reached" : "") +
          `, so another worker may own the run now`));
      throw this.#lost!;
    }
    pause.up((s) => `run ${this.lease.runId}: the database answered after ${s} s; the lease is still ours, going on`);
  }

  /** Records that a fenced write found the run gone; no more renewals. */
  markLost(e: LeaseLostError): void {
    this.#lost ??= e;
    this.stop();
  }

  /** One renewal on the heartbeat thread (joins one in flight), also after stop(); never throws. */
  beat(): Promise<BeatOutcome> {
    if (this.#lost) return Promise.resolve("lost");
    this.#inFlight ??= this.thread.beatNow(this.lease, this.#shared).finally(() => (this.#inFlight = null));
    return this.#inFlight;
  }

  #deadline(): number {
    return Number(Atomics.load(this.#times, DEADLINE));
  }
}
