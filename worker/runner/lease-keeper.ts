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
 * its expiry from a later instant). Past that local deadline (a frozen process, a stalled network)
 * the worker may not write before it has renewed: {@link check} then renews once, and a renewal
 * that is rejected (the run was reaped: the database fences the write) or that cannot be made at all
 * ("cannot renew for a whole lease") loses the run. A heartbeat's answer also carries the cancel flag,
 * the fallback for a cancel NOTIFY lost while the LISTEN connection was down.
 */
export class LeaseKeeper {
  #lost: LeaseLostError | null = null;
  #cancelRequested = false;
  #deadline: number;
  #timer: NodeJS.Timeout | null = null;
  #inFlight: Promise<void> | null = null;
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

  /** Why the run was lost, or null while it is still ours. */
  get lost(): LeaseLostError | null {
    return this.#lost;
  }

  /**
   * Call before every write and between batches: throws when the run is lost. Past the local deadline
   * it first renews (waiting for the answer), so a worker that was frozen learns from the database
   * whether its run was taken, and writes nothing until it knows.
   */
  async check(): Promise<void> {
    if (this.#lost) throw this.#lost;
    if (this.#now() <= this.#deadline) return;
    await this.beat();
    if (this.#lost) throw this.#lost;
    if (this.#now() > this.#deadline) {
      this.markLost(new LeaseLostError(this.lease, "renewing the lease",
        `Lost the lease on run ${this.lease.runId}: no renewal succeeded for LEASE_S (${this.opts.leaseS} s), ` +
          `so another worker may own the run now`));
      throw this.#lost!;
    }
  }

  /** Records that a fenced write found the run gone. */
  markLost(e: LeaseLostError): void {
    this.#lost ??= e;
    this.stop();
  }

  /** One renewal (joins one in flight); never throws. */
  beat(): Promise<void> {
    if (this.#lost) return Promise.resolve();
    this.#inFlight ??= this.#renew().finally(() => (this.#inFlight = null));
    return this.#inFlight;
  }

  async #renew(): Promise<void> {
    const sentAt = this.#now();
    // A renewal that hangs (dead connection) must not hold the worker past the point where it has to
    // give up: wait at most one heartbeat interval for the answer.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), this.opts.heartbeatS * 1000)));
    try {
      const answer = await Promise.race([heartbeatRun(this.sql, this.lease, this.opts.leaseS), timeout]);
      if (answer === "timeout") {
        this.opts.log(`run ${this.lease.runId}: heartbeat got no answer within ${this.opts.heartbeatS} s`);
        return;
      }
      this.#deadline = Math.max(this.#deadline, sentAt + this.opts.leaseS * 1000);
      if (answer.cancelRequested && !this.#cancelRequested) {
        this.#cancelRequested = true;
        this.opts.log(`run ${this.lease.runId}: cancel requested (seen in heartbeat)`);
      }
    } catch (e) {
      if (e instanceof LeaseLostError) this.markLost(e);
      else this.opts.log(`run ${this.lease.runId}: heartbeat failed: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}
