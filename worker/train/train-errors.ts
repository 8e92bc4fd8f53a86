/** The loss became NaN or ±∞: the run cannot continue (too high an LR, usually). */
export class TrainingDivergedError extends Error {
  override name = "TrainingDivergedError";
  readonly code = "diverged" as const;
  constructor(readonly epoch: number, readonly batch: number, readonly iteration: number, readonly loss: number) {
    super(`Training diverged: loss is ${loss} at epoch ${epoch}, batch ${batch} (iteration ${iteration}); lower the learning rate`);
  }
}

/** The number of live tensors grew over an epoch: something in the loop or the model leaks. */
export class TensorLeakError extends Error {
  override name = "TensorLeakError";
  readonly code = "tensor_leak" as const;
  constructor(readonly epoch: number, readonly before: number, readonly after: number) {
    super(`Tensor leak: ${after - before} tensors more after epoch ${epoch} than after the previous one (${before} → ${after})`);
  }
}

/** A checkpoint that does not belong to this run's spec or model. */
export class CheckpointMismatchError extends Error {
  override name = "CheckpointMismatchError";
  readonly code = "checkpoint_mismatch" as const;
}
