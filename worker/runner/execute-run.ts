import type postgres from "postgres";
import { parseRunSpec } from "../../shared/run-spec.ts";
import { isDatabaseUnreachable, reconnectBackoffS } from "../../shared/db/database-unreachable.ts";
import { appendEvent } from "../../shared/queue/append-event.ts";
import { completeRunAndClaim } from "../../shared/queue/complete-run.ts";
import type { ClaimOptions } from "../../shared/queue/claim-run.ts";
import { endCancelledRun } from "../../shared/queue/end-cancelled-run.ts";
import { failRun } from "../../shared/queue/fail-run.ts";
import { findCompletion } from "../../shared/queue/find-completion.ts";
import { findRecordedEpoch } from "../../shared/queue/find-recorded-epoch.ts";
import { LeaseLostError } from "../../shared/queue/lease-lost-error.ts";
import type { ClaimedRun, EpochMetrics } from "../../shared/queue/queue-types.ts";
import { loadRunModel } from "../../shared/queue/load-run-model.ts";
import { releaseRun } from "../../shared/queue/release-run.ts";
import { saveRunModel } from "../../shared/queue/save-run-model.ts";
import { RunPublisher } from "../stream/run-publisher.ts";
import type { WorkerStream } from "../stream/worker-stream.ts";
import type { CheckpointStore } from "./checkpoint-store.ts";
import { classifyError, RunFailure } from "./classify-error.ts";
import type { HeartbeatThread } from "./heartbeat-thread.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import { RunCheckpoints } from "./run-checkpoints.ts";
import type { Trainer, TrainerProgress } from "./trainer.ts";
import type { LineLog } from "../../shared/logger.ts";
import { OutageLog } from "../../shared/outage-log.ts";
import { formatIssues } from "../../shared/issue.ts";

export type RunOutcome = "succeeded" | "cancelled" | "released" | "failed" | "retry" | "abandoned";

export interface ExecuteRunOptions {
  sql: postgres.Sql;
  /** Renews the lease off the main thread (a training step blocks it for seconds). */
  heartbeats: HeartbeatThread;
  /** The worker's socket to the API, or null without API_URL (subscribers then hear via NOTIFY). */
  stream?: Pick<WorkerStream, "publishEvent" | "publishProgress"> | null;
  trainer: Trainer;
  leaseS: number;
  heartbeatS: number;
  /** Where this worker writes checkpoints (it reads either store's). */
  checkpoints: CheckpointStore;
  /** True once the worker drains: the trainer is asked to stop at the next batch boundary. */
  draining: () => boolean;
  log: LineLog;
  /** Local monotonic ms when the claim was sent (the lease's earliest possible start). */
  claimSentAt: number;
  /** Live progress between epochs (not durable): the hook for the worker → API stream. */
  onProgress?: (run: ClaimedRun, progress: TrainerProgress) => void;
  /** Called with the keeper so the worker can route cancel NOTIFYs and reconnects to it. */
  onKeeper?: (keeper: LeaseKeeper | null) => void;
  /**
   * Asked when the run succeeded: the claim of the worker's next run to make in the completion's own
   * statement (complete-run.ts), or null for none (draining, or the worker's last run).
   */
  claimNext?: () => ClaimOptions | null;
}

/** A run claimed by the completion of the one before, and when that claim was sent (local monotonic ms). */
export interface HandedOffRun {
  run: ClaimedRun;
  claimSentAt: number;
}

export interface RunEnd {
  outcome: RunOutcome;
  /** The worker's next run, claimed with this one's completion (null: none). */
  next: HandedOffRun | null;
}

/**
 * Trains one claimed run and records how it ended, with every write fenced by the claim's lease. The
 * moment any fenced write matches nothing, or the lease could not be renewed for LEASE_S, the run is
 * abandoned: the trainer is stopped at its next hook call and nothing more is written for it.
 */
export async function executeRun(run: ClaimedRun, o: ExecuteRunOptions): Promise<RunEnd> {
  const { sql, log } = o;
  const tag = `run ${run.runId} attempt ${run.attempt}`;
  const keeper = new LeaseKeeper(o.heartbeats, run, {
    leaseS: o.leaseS,
    heartbeatS: o.heartbeatS,
    log,
    giveUp: o.draining,
  }, o.claimSentAt);
  keeper.start();
  o.onKeeper?.(keeper);
  // Fire and forget: publishing never waits, and a dropped message is also in Postgres (durable events)
  // or superseded by the next one (progress). Every batch is offered; the publisher throttles.
  // Parsed and defaulted once, here: the trainer gets a RunSpec. One that does not parse (stored by an
  // older version, or by hand) fails the run as invalid_spec below, not retried.
  const parsed = parseRunSpec(run.spec);
  const spec = parsed.ok ? parsed.spec : null;
  const publisher = new RunPublisher(o.stream ?? null, {
    runId: run.runId,
    attempt: run.attempt,
    epochs: run.epochs,
    batchSize: spec?.batchSize ?? 0,
    lastSeq: run.lastSeq,
  }, { everyBatches: 1 });
  const checkpoints = new RunCheckpoints(sql, run, o.checkpoints, log);
  // Every hook first checks the lease, and turns a fenced-off write into the keeper's verdict, so that
  // whatever the trainer does next also stops.
  //
  // An outage (the database restarting, failing over) is not the run's failure: a write that could not
  // reach the database is tried again until it answers, for as long as the lease is ours (past its
  // deadline the keeper pauses the run until the database says whose it is). Its first try may have
  // committed unseen, so `landed` (if given) first looks whether it did: nothing is written twice. While
  // draining, a shutdown does not wait for an outage: the error goes up, the reaper takes the run back.
  const fenced = async <T>(write: () => Promise<T>, landed?: () => Promise<T | null>): Promise<T> => {
    const outage = new OutageLog(log);
    for (let retries = 0; ; retries++) {
      await keeper.check();
      try {
        const done = outage.ongoing && landed ? await landed() : null;
        const result = done ?? await write();
        outage.up((s) => `${tag}: the database answers again; the write went through after ${s} s`);
        return result;
      } catch (e) {
        if (e instanceof LeaseLostError) keeper.markLost(e);
        if (!isDatabaseUnreachable(e) || o.draining()) throw e;
        outage.down(`${tag}: the database cannot be reached (${(e as Error).message}); retrying until it answers`);
        // The clients' own reconnect schedule (50 ms, growing to 2 s): back soon after the database is.
        await new Promise((r) => setTimeout(r, reconnectBackoffS(retries) * 1000));
      }
    }
  };
  const commitEpoch = async (m: EpochMetrics, checkpoint: Uint8Array): Promise<void> => {
    const seq = await fenced(() => checkpoints.commitEpoch(m, checkpoint), async () => {
      const recorded = await findRecordedEpoch(sql, run, m.epoch);
      if (recorded !== null) await checkpoints.resync();
      return recorded;
    });
    if (seq !== null) publisher.epochCommitted(seq, m);
  };
  // The final epoch (recorded without a checkpoint, run-checkpoints.ts) waits until the end of this turn
  // of the event loop: a trainer with nothing left to do returns `completed` within it, and the record
  // then goes with the completion in one statement (one commit and one announcement fewer per run).
  // Otherwise (the real trainer evaluates the test set next, yielding between batches) it is written
  // then, as any epoch. Every other write, and every other end, writes it first, so events keep their order.
  let finalEpoch: EpochMetrics | null = null;
  let finalWrite: Promise<void> = Promise.resolve();
  const flushFinal = (): Promise<void> => {
    const m = finalEpoch;
    if (m !== null) {
      finalEpoch = null;
      finalWrite = commitEpoch(m, new Uint8Array(0));
      finalWrite.catch(() => {}); // awaited by whoever ends the attempt; handled meanwhile
    }
    return finalWrite;
  };
  // The completion claims the worker's next run on its first try only. A try that may have committed
  // unseen (an outage) is looked up before the next (find-completion.ts): if it landed, its answer is
  // rebuilt, the next run it claimed included; if not, the run is completed without a claim. A
  // completion whose claim part fails otherwise (nothing of it committed) completes without it.
  const complete = async (final: EpochMetrics | null): Promise<{ epochSeq: number | null; next: HandedOffRun | null }> => {
    let claim = o.claimNext?.() ?? null;
    const claimSentAt = performance.now();
    const write = () => {
      const c = claim;
      claim = null;
      return completeRunAndClaim(sql, run, final, c);
    };
    const asked = claim !== null;
    const landed = () => findCompletion(sql, run, final !== null, asked);
    const done = await fenced(write, landed).catch((e) => {
      if (!asked || e instanceof LeaseLostError || isDatabaseUnreachable(e)) throw e;
      log(`${tag}: completing with the next claim failed (${(e as Error).message}); completing alone`, "warn");
      return fenced(write, landed);
    });
    return { epochSeq: done.epochSeq, next: done.next === null ? null : { run: done.next, claimSentAt } };
  };
  let dataEvents: Promise<unknown> = Promise.resolve();
  try {
    log(`${tag}: started${run.checkpointPath ? ` from checkpoint ${run.checkpointPath}` : ""}`);
    if (!parsed.ok) {
      throw new RunFailure("invalid_spec", `Invalid run spec: ${formatIssues(parsed.issues)}`);
    }
    const result = await o.trainer.train(run, parsed.spec, {
      shouldStop: async () => {
        await keeper.check();
        if (keeper.cancelRequested) return "cancel";
        return o.draining() ? "drain" : false;
      },
      onEpochEnd: async (m, checkpoint) => {
        if (!Number.isFinite(m.loss) || !Number.isFinite(m.valLoss)) {
          await keeper.check();
          throw new RunFailure("diverged", `Training diverged: loss ${m.loss}, val_loss ${m.valLoss} at epoch ${m.epoch}`);
        }
        await flushFinal();
        if (checkpoints.isUnrecordedFinal(m)) {
          await keeper.check();
          finalEpoch = m;
          setImmediate(() => void flushFinal());
          return;
        }
        await commitEpoch(m, checkpoint);
      },
      loadCheckpoint: () => checkpoints.load(),
      onProgress: (p) => {
        if (keeper.lost) return;
        publisher.progress(p);
        o.onProgress?.(run, p);
      },
      saveCheckpoint: async (bytes, at) => {
        await flushFinal();
        await fenced(() => checkpoints.save(bytes, at));
      },
      onDataEvent: (event) => {
        // Durable (subscribers hear it through NOTIFY and on replay), in order, and never in the way:
        // a lost lease shows at the next fenced hook.
        dataEvents = dataEvents
          .then(() => flushFinal())
          .then(() => fenced(() => appendEvent(sql, run, "data", event)))
          .then((seq) => publisher.seqCommitted(seq), () => {});
      },
      saveModel: async (model, test) => {
        await flushFinal();
        await fenced(() => saveRunModel(sql, run, model, test));
      },
      loadModel: (weights) => loadRunModel(sql, run.runId, weights),
    });
    await dataEvents;
    keeper.stop();
    if (result.status === "completed") {
      const final = finalEpoch;
      finalEpoch = null;
      await finalWrite; // a final epoch already on its way lands first
      const { epochSeq, next } = await complete(final);
      if (final !== null && epochSeq !== null) publisher.epochCommitted(epochSeq, final);
      log(`${tag}: succeeded`);
      // Collecting old checkpoints is best-effort (it logs its own failure): a run the completion
      // claimed, whose lease already runs, does not wait for it.
      const collected = checkpoints.finish();
      if (next === null) await collected;
      return { outcome: "succeeded", next };
    }
    await flushFinal();
    if (result.status === "cancelled") {
      await fenced(() => endCancelledRun(sql, run));
      log(`${tag}: cancelled`);
      await checkpoints.finish();
      return end("cancelled");
    }
    const released = await fenced(() => releaseRun(sql, run));
    log(`${tag}: ${released.state === "queued" ? "released to the queue (attempt not spent)" : "cancelled"}`);
    return end(released.state === "queued" ? "released" : "cancelled");
  } catch (e) {
    keeper.stop();
    const lost = e instanceof LeaseLostError ? e : keeper.lost;
    if (lost) {
      log(`${tag}: abandoned, lease lost: ${lost.message}`, "warn");
      return end("abandoned");
    }
    if (isDatabaseUnreachable(e)) {
      // Only while draining (otherwise fenced() waits the outage out): the run stays ours until its lease
      // runs out, then the reaper hands it on and it resumes from its last checkpoint.
      log(`${tag}: stopping while the database cannot be reached (${(e as Error).message}); the reaper will take the run back`, "warn");
      return end("abandoned");
    }
    const { error, retryable } = classifyError(e);
    log(`${tag}: failed (${error.code}${retryable ? ", retryable" : ""}): ${error.message}`, "warn");
    try {
      // A final epoch trained before the failure is reported (if its record fails, so will this one's).
      await flushFinal().catch(() => {});
      const failed = await failRun(sql, run, error, { retryable });
      if (failed.state !== "queued") await checkpoints.finish();
      return end(failed.state === "queued" ? "retry" : failed.state === "cancelled" ? "cancelled" : "failed");
    } catch (e2) {
      if (e2 instanceof LeaseLostError) {
        log(`${tag}: abandoned, lease lost before the failure could be recorded`, "warn");
        return end("abandoned");
      }
      // The database is unreachable: the lease will expire and the reaper will retry the run.
      log(`${tag}: could not record the failure (${(e2 as Error).message}); the reaper will take the run back`, "error");
      return end("abandoned");
    }
  } finally {
    keeper.stop();
    o.onKeeper?.(null);
  }
}

function end(outcome: RunOutcome): RunEnd {
  return { outcome, next: null };
}
