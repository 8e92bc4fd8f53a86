/**
 * What one attempt publishes on the worker's socket: each epoch right after its fenced write returned
 * the seq, and progress every `everyBatches` batches (at most one per `minIntervalMs`), with images/s
 * and the ETA worked out here so that trainers only report what they know.
 *
 * @example
 * ```ts
 * const publisher = new RunPublisher(stream, { runId, attempt, epochs: 34, batchSize: 64 });
 * const seq = await recordEpoch(sql, lease, metrics, null);
 * publisher.epochCommitted(seq, metrics);
 * publisher.progress({ epoch: 3, batch: 120, batchesPerEpoch: 625, loss: 0.71, acc: 0.76, lr: 9.8e-4 });
 * ```
 */
import type { EpochMetrics } from "../../shared/queue/queue-types.ts";
import type { TrainerProgress } from "../runner/trainer.ts";
import type { WorkerStream } from "./worker-stream.ts";


export interface RunPublisherOptions {
  /** Publish every this many batches (and the epoch's last batch). */
  everyBatches?: number;
  /** ...but not more often than this. */
  minIntervalMs?: number;
  now?: () => number;
}

export class RunPublisher {
  #lastSeq: number;
  #lastSentAt = -Infinity;
  /** Throughput window: when and at which global batch the current measurement started. */
  #windowAt: number | null = null;
  #windowBatch = 0;
  #imagesPerSec = 0;
  readonly #every: number;
  readonly #minIntervalMs: number;
  readonly #now: () => number;

  constructor(
    private readonly stream: Pick<WorkerStream, "publishEvent" | "publishProgress"> | null,
    private readonly run: { runId: string; attempt: number; epochs: number; batchSize: number; lastSeq?: number },
    opts: RunPublisherOptions = {},
  ) {
    this.#lastSeq = run.lastSeq ?? 0;
    this.#every = opts.everyBatches ?? 10;
    this.#minIntervalMs = opts.minIntervalMs ?? 250;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** An epoch whose fenced write returned `seq`: sent exactly as stored (recordEpoch's payload). */
  epochCommitted(seq: number, metrics: EpochMetrics): void {
    this.#lastSeq = Math.max(this.#lastSeq, seq);
    this.stream?.publishEvent({
      runId: this.run.runId,
      seq,
      type: "epoch",
      payload: { ...metrics, attempt: this.run.attempt },
    });
  }

  /** A durable event written by someone else's statement but known to this worker (its seq only). */
  seqCommitted(seq: number): void {
    this.#lastSeq = Math.max(this.#lastSeq, seq);
  }

  progress(p: TrainerProgress): void {
    const now = this.#now();
    const global = (p.epoch - 1) * p.batchesPerEpoch + p.batch;
    if (this.#windowAt === null) {
      this.#windowAt = now;
      this.#windowBatch = global;
    } else if (now - this.#windowAt >= 1000 && global > this.#windowBatch) {
      // Throughput over the last second or more: steadier than one batch, quicker than an epoch.
      this.#imagesPerSec = ((global - this.#windowBatch) * this.run.batchSize * 1000) / (now - this.#windowAt);
      this.#windowAt = now;
      this.#windowBatch = global;
    }
    const due = p.batch % this.#every === 0 || p.batch === p.batchesPerEpoch;
    if (this.stream === null || !due || now - this.#lastSentAt < this.#minIntervalMs) return;
    this.#lastSentAt = now;
    const remaining = Math.max(0, this.run.epochs * p.batchesPerEpoch - global);
    const etaSeconds = this.#imagesPerSec > 0 ? (remaining * this.run.batchSize) / this.#imagesPerSec : 0;
    this.stream.publishProgress({
      runId: this.run.runId,
      seq: this.#lastSeq,
      attempt: this.run.attempt,
      ...p,
      imagesPerSec: this.#imagesPerSec,
      etaSeconds,
    });
  }
}
