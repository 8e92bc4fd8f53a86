/**
 * What the worker runs: a trainer trains one claimed run through hooks that the runner fences. The
 * real trainer adapts worker/train/train-run.ts; worker/fake-trainer.ts is the test double.
 */
import type { RunSpec } from "../../shared/run-spec.ts";
import type { DataEventPayload } from "../../shared/stream-messages.ts";
import type { ModelWeights } from "../../shared/model-artifact.ts";
import type { ClaimedRun, EpochMetrics } from "../../shared/queue/queue-types.ts";
import type { RunModelWrite, TestFigures } from "../../shared/queue/save-run-model.ts";

/** Why a trainer is asked to stop between batches (the worker's cancel or drain, the CLI's signals). */
export type StopRequest = "cancel" | "drain";

/** How a training run ended: all its epochs, or stopped for a cancel or a drain (checkpointed). */
export type TrainStatus = "completed" | "cancelled" | "drained";

/** Where a checkpoint sits in the run: completed epochs, and batches of the next epoch already done. */
export interface CheckpointPosition {
  epochsDone: number;
  batches: number;
}

export interface TrainerHooks {
  /**
   * Ask between batches. "cancel" / "drain": checkpoint and return. Throws (LeaseLostError) when the
   * run was lost: the trainer must let it propagate and write nothing more.
   */
  shouldStop(): Promise<StopRequest | false>;
  /**
   * After each epoch, with the checkpoint that holds it (bytes as saved): the checkpoint is made durable
   * first, then the metrics row, the event and the run's pointer are written in one fenced statement.
   * Throws, and nothing is reported, when the checkpoint cannot be written or the run was lost. The
   * run's final epoch is the exception: no checkpoint is written (nothing resumes past it), and its
   * record may follow a moment later, with the run's end if the trainer returns at once (execute-run.ts).
   */
  onEpochEnd(metrics: EpochMetrics, checkpoint: Uint8Array): Promise<void>;
  /** The checkpoint this attempt resumes from (bytes as saved), or null for a fresh start. */
  loadCheckpoint(): Promise<Uint8Array | null>;
  /**
   * A stop's checkpoint (cancel, drain): written durably first, then the fenced pointer moves. Epoch
   * ends go through `onEpochEnd` instead.
   */
  saveCheckpoint(bytes: Uint8Array, at: CheckpointPosition): Promise<void>;
  /** Live progress, not durable (may be dropped). */
  onProgress?(progress: TrainerProgress): void;
  /** Finding or fetching the run's data set (a durable `data` event; never throws, may be dropped). */
  onDataEvent?(event: DataEventPayload): void;
  /** Stores the run's best or final exported network (fenced; throws when the run was lost). */
  saveModel?(model: RunModelWrite, test?: { own?: TestFigures | null; best?: TestFigures | null }): Promise<void>;
  /** The run's stored weights of a kind (a resumed run's best may be an earlier attempt's), or null. */
  loadModel?(weights: ModelWeights): Promise<{ epoch: number; data: Uint8Array } | null>;
}

/** Where the epoch has got: running means over its batches so far and the last update's LR. */
export interface TrainerProgress {
  /** 1-based epoch in progress. */
  epoch: number;
  /** Batches done in this epoch. */
  batch: number;
  batchesPerEpoch: number;
  loss: number;
  acc: number;
  lr: number;
}

export interface TrainerResult {
  status: TrainStatus;
}

export interface Trainer {
  /** Names the backend for the workers table ("fake", "wasm", "tensorflow", ...). */
  readonly backend: string;
  readonly device: string;
  /** `spec` is the run's stored spec parsed and defaulted once by the runner (shared/run-spec.ts). */
  train(run: ClaimedRun, spec: RunSpec, hooks: TrainerHooks): Promise<TrainerResult>;
}
