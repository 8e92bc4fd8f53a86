import type postgres from "postgres";
import { heartbeatRun } from "../queue/heartbeat-run.ts";
import { LeaseLostError } from "../queue/lease-lost-error.ts";
import type { Lease } from "../queue/queue-types.ts";

export interface LeaseKeeperOptions {
  leaseS: number;
  heartbeatS: number;
  log: (line: string) => void;
  /** Monotonic milliseconds (tests). */
  now?: () => number;
}

/**
 * Renews one claim's lease every HEARTBEAT_S and keeps the worker's own, conservative view of it: the
 * lease surely lasts until `send time of the last successful renewal + LEASE_S` (the server computed
 * its expiry later than we sent). Past that local deadline the worker must assume the run is gone
 * and stop, even if it cannot reach the database to find out: "cannot renew for a whole lease → stop".
 * A heartbeat's answer also carries the cancel flag, the fallback for a lost cancel NOTIFY.
 */
export class LeaseKeeper {
  #lost: LeaseLostError | null = null;
  #cancelRequested = false;
  #deadline: number;
  #timer: NodeJS.Timeout | null = null;
  #inFlight = false;
  readonly #now: () => number;

  constructor(
    private readonly sql: postgres.Sql,
    readonly lease: Lease,
    private readonly opts: LeaseKeeperOptions,
    /** Local time at which the claim was sent: the claim's lease runs from no earlier than this. */
    claimSentAt: number,
  ) {
    this.#now = opts.now ?? (() => performance.now());
    this.#deadline = claimSentAt + opts.leaseS * 1000;
  }

  start(): void {
    this.#timer = setInterval(() => void this.beat(), this.opts.heartbeatS * 1000);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Someone asked to cancel (learned from a heartbeat or a NOTIFY). */
  get cancelRequested(): boolean {
    return this.#cancelRequested;
  }

  requestCancel(): void {
    this.#cancelRequested = true;
  }

  /** The reason the run is lost, or null while it is still ours (checks the local deadline too). */
  get lost(): LeaseLostError | null {
    if (this.#lost === null && this.#now() > this.#deadline) {
      this.#lost = new LeaseLostError(this.lease, `renewing the lease (none succeeded for ${this.opts.leaseS} s)`);
    }
    return this.#lost;
  }

  /** Throws the loss, if any: call before every write and between batches. */
  throwIfLost(): void {
    const lost = this.lost;
    if (lost) throw lost;
  }

  /** Records that a fenced write found the run gone. */
  markLost(e: LeaseLostError): void {
    this.#lost ??= e;
    this.stop();
  }

  /** One renewal; never throws. Public so that a caller can renew right away (e.g. after a reconnect). */
  async beat(): Promise<void> {
    if (this.#inFlight || this.lost) {
      if (this.#lost) this.stop();
      return;
    }
    this.#inFlight = true;
    const sentAt = this.#now();
    try {
      const answer = await heartbeatRun(this.sql, this.lease, this.opts.leaseS);
      // A renewal that arrives after the local deadline does not revive the run: the worker may already
      // have started abandoning it, and one decision must hold.
      if (this.#lost === null) this.#deadline = Math.max(this.#deadline, sentAt + this.opts.leaseS * 1000);
      if (answer.cancelRequested && !this.#cancelRequested) {
        this.#cancelRequested = true;
        this.opts.log(`run ${this.lease.runId}: cancel requested (seen in heartbeat)`);
      }
    } catch (e) {
      if (e instanceof LeaseLostError) this.markLost(e);
      else this.opts.log(`run ${this.lease.runId}: heartbeat failed: ${(e as Error).message}`);
    } finally {
      this.#inFlight = false;
    }
  }
}
