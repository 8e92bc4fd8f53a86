import type postgres from "postgres";
import { isDatabaseUnreachable } from "../../shared/db/database-unreachable.ts";
import { claimRun } from "../../shared/queue/claim-run.ts";
import { collectEndedCheckpoints } from "../../shared/queue/collect-ended-checkpoints.ts";
import { heartbeatWorker } from "../../shared/queue/heartbeat-worker.ts";
import { reapExpiredRuns } from "../../shared/queue/reap-expired-runs.ts";
import { reapGoneWorkers } from "../../shared/queue/reap-gone-workers.ts";
import { registerWorker, type WorkerInfo } from "../../shared/queue/register-worker.ts";
import { retireWorker } from "../../shared/queue/retire-worker.ts";
import type { CheckpointStore } from "./checkpoint-store.ts";
import { executeRun, type ExecuteRunOptions, type HandedOffRun, type RunOutcome } from "./execute-run.ts";
import { releaseRun } from "../../shared/queue/release-run.ts";
import type { ClaimedRun } from "../../shared/queue/queue-types.ts";
import type { HeartbeatThread } from "./heartbeat-thread.ts";
import type { LeaseKeeper } from "./lease-keeper.ts";
import type { Trainer } from "./trainer.ts";
import { WakeupListener } from "./wakeup-listener.ts";
import type { LineLog } from "../../shared/logger.ts";
import { OutageLog } from "../../shared/outage-log.ts";

export interface WorkerLoopOptions {
  sql: postgres.Sql;
  /** For the dedicated LISTEN connection. */
  url: string;
  info: WorkerInfo;
  /** Renews the current run's lease off the main thread. */
  heartbeats: HeartbeatThread;
  /** The worker's socket to the API (null: none; subscribers hear of durable events via NOTIFY). */
  stream?: ExecuteRunOptions["stream"];
  trainer: Trainer;
  leaseS: number;
  heartbeatS: number;
  pollMs: number;
  checkpoints: CheckpointStore;
  log: LineLog;
  /** Seconds between reaper passes (default HEARTBEAT_S); jittered so workers do not reap in step. */
  reapS?: number;
  /** false: no LISTEN connection, wake up by polling only. */
  listen?: boolean;
  /** Stop after this many runs (benchmarks, tests); default unlimited. */
  maxRuns?: number;
  /** Live progress of the current run (not durable), e.g. to push to the API's streams. */
  onProgress?: ExecuteRunOptions["onProgress"];
  /** Called after each run with its outcome. */
  onRunEnd?: (runId: string, outcome: RunOutcome) => void;
}

/**
 * How long a worker holds a run before it listens again. Postgres wakes every listening backend for
 * every NOTIFY (wakeup-listener.ts), and the NOTIFYs come from the runs themselves (each claim, epoch
 * and completion announces its event): a busy worker that listened would pay for every other worker's
 * runs. Runs shorter than this (queue tests, the fake-trainer benchmarks) never listen while busy;
 * a training run listens from its first second on, so a cancel NOTIFY reaches it at once. A cancel
 * requested before it listens is read by the heartbeat that starting to listen triggers (onListening),
 * so a cancel is seen within about this long plus a batch, as before within one batch.
 */
const BUSY_LISTEN_AFTER_MS = 1000;

/**
 * One worker: registers, then loops claim → train → record until drained; through a backlog each
 * run's completion claims the next run in the same statement (complete-run.ts). Idle, it waits for a
 * `runs_queued` NOTIFY or POLL_MS, whichever comes first, so a lost notification costs at most one poll
 * interval. It listens only while idle and once a run has lasted BUSY_LISTEN_AFTER_MS. It heartbeats
 * its worker row, and reaps expired leases, stale workers and ended runs' checkpoint rows every
 * HEARTBEAT_S (every worker does: the reaper is single-winner by SKIP LOCKED, and any live worker
 * rescues a dead one's run).
 */
export class WorkerLoop {
  #draining = false;
  #wake: (() => void) | null = null;
  #keeper: LeaseKeeper | null = null;
  #timers: NodeJS.Timeout[] = [];
  #listener: WakeupListener;
  #runs = 0;
  /** One line when the database stops answering the loop's own statements and one when it is back (shared/outage-log.ts). */
  readonly #outage: OutageLog;

  constructor(private readonly o: WorkerLoopOptions) {
    this.#outage = new OutageLog(o.log);
    this.#listener = new WakeupListener(
      { url: o.url, checkS: o.heartbeatS, applicationName: `worker ${o.info.id} listen`, log: o.log },
      {
        onQueued: () => this.#wakeUp(),
        onCancel: (runId) => {
          const keeper = this.#keeper;
          if (keeper && keeper.lease.runId === runId && !keeper.cancelRequested) {
            keeper.requestCancel();
            o.log(`run ${runId}: cancel requested (NOTIFY)`);
          }
        },
        onListening: () => {
          // Anything announced while we were not listening was missed: look again.
          this.#wakeUp();
          void this.#keeper?.beat();
        },
      },
    );
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Stop claiming; a running run is checkpointed and released at its next batch boundary. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.o.log(`draining${this.#keeper ? ` (releasing run ${this.#keeper.lease.runId} at the next batch)` : ""}`);
    this.#wakeUp();
  }

  /** Runs until drained (or maxRuns); resolves when the worker has let go of everything. */
  async run(): Promise<void> {
    const { sql, info, log } = this.o;
    // A worker started while the database is down (a restart, a failover) waits for it, as one that
    // was already running does.
    for (;;) {
      try {
        await registerWorker(sql, info);
        this.#answered();
        break;
      } catch (e) {
        if (!isDatabaseUnreachable(e)) throw e;
        this.#failed("registering", e);
        await this.#idle();
        if (this.#draining) return; // stopped before it ever held anything
      }
    }
    if (this.o.listen !== false) await this.#listener.start();
    const reapMs = (this.o.reapS ?? this.o.heartbeatS) * 1000;
    this.#every(reapMs, () => this.#reap());
    this.#every(this.o.heartbeatS * 1000, async () => {
      if (this.#keeper) return; // a busy worker's row is touched by its run's heartbeat
      if (!(await heartbeatWorker(sql, info.id, this.#draining ? "draining" : "idle"))) await registerWorker(sql, info);
    });
    log(`worker ${info.id} ready (trainer ${this.o.trainer.backend}, lease ${this.o.leaseS} s, heartbeat ${this.o.heartbeatS} s, poll ${this.o.pollMs} ms)`);
    try {
      let next: HandedOffRun | null = null;
      while (next !== null || (!this.#draining && !this.#ranAll())) {
        let run: ClaimedRun | null;
        let claimSentAt: number;
        if (next !== null) {
          ({ run, claimSentAt } = next);
          next = null;
          // Claimed by the last completion as a drain began: back to the queue, the attempt not spent.
          if (this.#draining) {
            await this.#handBack(run);
            continue;
          }
        } else {
          claimSentAt = performance.now();
          try {
            run = await claimRun(sql, { workerId: info.id, leaseS: this.o.leaseS });
          } catch (e) {
            this.#failed("claim", e);
            await this.#idle();
            continue;
          }
          this.#answered();
          if (run === null) {
            // Just started listening: look once more, as a run queued since the claim was announced to no one.
            if (await this.#listenWhileIdle()) continue;
            await this.#idle();
            continue;
          }
        }
        this.#runs++;
        // A busy worker does not listen at first (see BUSY_LISTEN_AFTER_MS): through a backlog of short
        // runs it never does, and no NOTIFY anywhere wakes it.
        void this.#listener.want(false);
        const listenAgain = this.o.listen === false ? null : setTimeout(() => void this.#listener.want(true), BUSY_LISTEN_AFTER_MS);
        const ended = await executeRun(run, {
          sql,
          heartbeats: this.o.heartbeats,
          stream: this.o.stream ?? null,
          trainer: this.o.trainer,
          leaseS: this.o.leaseS,
          heartbeatS: this.o.heartbeatS,
          checkpoints: this.o.checkpoints,
          draining: () => this.#draining,
          log,
          claimSentAt,
          onKeeper: (k) => (this.#keeper = k),
          // Through a backlog, each completion claims the next run: one round trip and commit fewer per run.
          claimNext: () => this.#draining || this.#ranAll() ? null : { workerId: info.id, leaseS: this.o.leaseS },
          ...(this.o.onProgress ? { onProgress: this.o.onProgress } : {}),
        });
        if (listenAgain) clearTimeout(listenAgain);
        next = ended.next;
        this.o.onRunEnd?.(run.runId, ended.outcome);
      }
    } finally {
      for (const t of this.#timers) clearTimeout(t);
      await this.#listener.close();
      await retireWorker(sql, info.id).catch(() => {});
    }
  }

  #ranAll(): boolean {
    return this.o.maxRuns !== undefined && this.#runs >= this.o.maxRuns;
  }

  /** Releases a run the worker claimed but will not start (it began draining meanwhile). */
  async #handBack(run: ClaimedRun): Promise<void> {
    try {
      const released = await releaseRun(this.o.sql, run);
      this.o.log(`run ${run.runId} attempt ${run.attempt}: claimed as the worker began draining; ${released.state === "queued" ? "released to the queue (attempt not spent)" : "cancelled"}`);
    } catch (e) {
      // Its lease runs out and the reaper hands it on.
      this.o.log(`run ${run.runId} attempt ${run.attempt}: could not release the run claimed as the worker began draining (${(e as Error).message})`, "warn");
    }
  }

  /** Starts listening when the worker is about to idle without; true if it did (look for work once more). */
  async #listenWhileIdle(): Promise<boolean> {
    if (this.o.listen === false || this.#listener.wanted) return false;
    await this.#listener.want(true);
    return true;
  }

  /** Waits for a NOTIFY, the poll interval, or a drain. */
  async #idle(): Promise<void> {
    if (this.#draining) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.o.pollMs);
      this.#wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
    this.#wake = null;
  }

  #wakeUp(): void {
    this.#wake?.();
  }

  /**
   * One line when the database stops answering and one when it is back, instead of one per claim, reap
   * and heartbeat: an outage is expected to end (postgres.js connects again on the next statement).
   */
  #failed(what: string, e: unknown): void {
    if (!isDatabaseUnreachable(e)) {
      this.o.log(`${what} failed: ${(e as Error).message}`, "warn");
    } else {
      this.#outage.down(`the database cannot be reached (${(e as Error).message}); retrying until it answers`);
    }
  }

  #answered(): void {
    this.#outage.up((s) => `the database answers again (after ${s} s)`);
  }

  async #reap(): Promise<void> {
    try {
      // A lease that ran out while the server was down is not its worker's fault: the reaper leaves
      // leases alone for two LEASE_S after a server (re)start, long enough for live workers to renew.
      const reaped = await reapExpiredRuns(this.o.sql, 100, 2 * this.o.leaseS);
      this.#answered();
      for (const r of reaped) {
        this.o.log(`reaped run ${r.runId} attempt ${r.attempt} from worker ${r.workerId} (lease expired) → ${r.state}`);
      }
      await reapGoneWorkers(this.o.sql, Math.max(this.o.leaseS, 3 * this.o.heartbeatS));
      // Checkpoint rows of runs that ended (by the reaper too): here, not on every save.
      await collectEndedCheckpoints(this.o.sql);
    } catch (e) {
      this.#failed("reaper", e);
    }
  }

  /** A jittered repeating task (±20 %) that never overlaps itself. */
  #every(ms: number, task: () => Promise<void>): void {
    let running = false;
    const jittered = () => ms * (0.8 + Math.random() * 0.4);
    const tick = () => {
      if (!running) {
        running = true;
        void task().catch((e) => this.#failed("background task", e)).finally(() => (running = false));
      }
      const t = setTimeout(tick, jittered());
      this.#timers[index] = t;
    };
    const index = this.#timers.length;
    this.#timers.push(setTimeout(tick, jittered()));
  }
}
