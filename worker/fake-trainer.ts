/**
 * `TRAINER=fake`: the named test double for the queue. It trains nothing and loads no tf: each batch
 * is a sleep, each epoch reports made-up metrics that improve with the epoch, and checkpoints are a
 * few bytes of JSON with the position. It behaves like the real trainer where the queue can tell:
 * it asks `shouldStop` between batches, checkpoints on stop and after every epoch, resumes from its
 * checkpoint at the same batch, and diverges when the learning rate is absurd (`optimizer.alpha ≥ 1`
 * gives a NaN loss at the second batch), so queue tests can have hundreds of runs in seconds.
 *
 * @example
 * const trainer = fakeTrainer({ batchMs: 20, batchesPerEpoch: 5 });
 */
import type { RunSpec } from "../shared/run-spec.ts";
import type { ClaimedRun, EpochMetrics } from "../shared/queue/queue-types.ts";
import type { Trainer, TrainerHooks, TrainerResult } from "./runner/trainer.ts";
import { RunFailure } from "./runner/classify-error.ts";
import { TrainingDivergedError } from "./train/train-errors.ts";

export interface FakeTrainerOptions {
  /** Milliseconds each batch sleeps. */
  batchMs: number;
  batchesPerEpoch: number;
  /**
   * Milliseconds each batch also busy-waits on the main thread, as a synchronous tfjs training step
   * blocks it (tests of everything that must keep going meanwhile: heartbeats); default 0.
   */
  blockMs?: number;
  /** Bytes of padding in each checkpoint, to give it a real size (full-disk tests); default 0. */
  checkpointBytes?: number;
  /**
   * Milliseconds spent after the last epoch is recorded, before the run completes: where the real
   * trainer evaluates the test set and stores the final model (tests of a crash in that window);
   * default 0.
   */
  finalMs?: number;
}

interface FakeCheckpoint {
  fake: 1;
  epochsDone: number;
  batches: number;
}

export function fakeTrainer(options: FakeTrainerOptions): Trainer {
  const { batchMs, batchesPerEpoch } = options;
  const blockMs = options.blockMs ?? 0;
  const padBytes = options.checkpointBytes ?? 0;
  const finalMs = options.finalMs ?? 0;
  if (!(batchMs >= 0)) throw new RangeError(`fake trainer batchMs must be ≥ 0, got ${batchMs}`);
  if (!(blockMs >= 0)) throw new RangeError(`fake trainer blockMs must be ≥ 0, got ${blockMs}`);
  if (!(finalMs >= 0)) throw new RangeError(`fake trainer finalMs must be ≥ 0, got ${finalMs}`);
  if (!Number.isInteger(batchesPerEpoch) || batchesPerEpoch < 1) {
    throw new RangeError(`fake trainer batchesPerEpoch must be a positive integer, got ${batchesPerEpoch}`);
  }
  return {
    backend: "fake",
    device: "none",
    async train(run: ClaimedRun, spec: RunSpec, hooks: TrainerHooks): Promise<TrainerResult> {
      const alpha = spec.optimizer.alpha;
      const saved = await hooks.loadCheckpoint();
      let { epochsDone, batches } = saved ? parseCheckpoint(saved) : { epochsDone: 0, batches: 0 };
      const save = () => hooks.saveCheckpoint(encode({ fake: 1, epochsDone, batches }, padBytes), { epochsDone, batches });
      for (let epoch = epochsDone + 1; epoch <= run.epochs; epoch++) {
        const started = performance.now();
        for (let b = batches; b < batchesPerEpoch; b++) {
          const stop = await hooks.shouldStop();
          if (stop) {
            await save();
            return { status: stop === "cancel" ? "cancelled" : "drained" };
          }
          // A 0 ms batch only yields (setTimeout would wait its 1 ms floor: a run's worth of queue work).
          await new Promise((r) => (batchMs > 0 ? setTimeout(r, batchMs) : setImmediate(r)));
          if (blockMs > 0) busyWait(blockMs);
          const loss = fakeLoss(epoch, b, alpha);
          if (!Number.isFinite(loss)) throw new TrainingDivergedError(epoch, b + 1, (epoch - 1) * batchesPerEpoch + b, loss);
          batches = b + 1;
          hooks.onProgress?.({ epoch, batch: batches, batchesPerEpoch, loss, acc: fakeAcc(epoch, batches), lr: alpha });
        }
        const seconds = (performance.now() - started) / 1000;
        const metrics: EpochMetrics = {
          epoch,
          loss: fakeLoss(epoch, batchesPerEpoch, alpha),
          acc: 1 - 0.9 * Math.exp(-epoch / 3),
          valLoss: fakeLoss(epoch, batchesPerEpoch, alpha) * 1.1,
          valAcc: 1 - 0.92 * Math.exp(-epoch / 3),
          lr: alpha,
          wd: alpha * 0.15,
          seconds,
          imagesPerSec: seconds > 0 ? (batchesPerEpoch * 64) / seconds : 0,
        };
        epochsDone = epoch;
        batches = 0;
        await hooks.onEpochEnd(metrics, encode({ fake: 1, epochsDone, batches }, padBytes));
      }
      if (finalMs > 0) await new Promise((r) => setTimeout(r, finalMs));
      return { status: "completed" };
    },
  };
}

/** Blocks the event loop like a synchronous training step. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

function fakeAcc(epoch: number, batch: number): number {
  return 1 - 0.9 * Math.exp(-(epoch - 1 + batch / 100) / 3);
}

function fakeLoss(epoch: number, batch: number, alpha: number): number {
  if (alpha >= 1 && (epoch > 1 || batch >= 1)) return Number.NaN;
  return 2.3 * Math.exp(-(epoch - 1 + batch / 100) / 3);
}

function encode(c: FakeCheckpoint, padBytes: number): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c) + " ".repeat(padBytes));
}

function parseCheckpoint(bytes: Uint8Array): FakeCheckpoint {
  const text = new TextDecoder().decode(bytes);
  let c: FakeCheckpoint | null = null;
  try {
    c = JSON.parse(text) as FakeCheckpoint;
  } catch {
    // reported below
  }
  if (c?.fake !== 1 || !Number.isInteger(c.epochsDone) || !Number.isInteger(c.batches)) {
    // The runner verified the checksum, so these are the bytes that were written: no attempt can load them.
    throw new RunFailure("checkpoint_unloadable", `not a fake trainer checkpoint: ${JSON.stringify(text.slice(0, 80))}`);
  }
  return c;
}
