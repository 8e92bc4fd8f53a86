import type { Progress, Run } from "./api-types.ts";

/** How far a run has got (0 … 1) and the seconds it still needs, if they can be told. */
export interface RunProgress {
  fraction: number;
  etaSeconds: number | null;
  label: string;
}

/**
 * A run's progress from what the page knows: finished epochs, the latest progress message (batch
 * within the current 1-based epoch, images/s), and the time since it started. The ETA prefers the live
 * throughput (remaining batches × batch size ÷ images/s), then the mean epoch time so far.
 *
 * @example
 * ```ts
 * runProgress(run, { epoch: 3, batch: 50, batchesPerEpoch: 100, imagesPerSec: 640, … }, Date.now());
 * // fraction (2 + 0.5) / epochs, eta = remaining batches × 64 / 640
 * ```
 */
export function runProgress(run: Run, progress: Progress | undefined, now: number): RunProgress {
  const epochs = Math.max(1, run.epochs);
  const done = run.summary.epochsDone ?? 0;
  if (run.state === "succeeded") return { fraction: 1, etaSeconds: 0, label: "done" };
  if (run.state !== "running") {
    return { fraction: done / epochs, etaSeconds: null, label: run.state === "queued" ? "queued" : `${done}/${epochs} epochs` };
  }
  let position = done;
  let eta: number | null = null;
  if (progress && progress.epoch - 1 >= done - 1) {
    position = Math.max(done, progress.epoch - 1 + progress.batch / Math.max(1, progress.batchesPerEpoch));
    const remainingBatches = (epochs - position) * progress.batchesPerEpoch;
    eta = progress.imagesPerSec > 0 ? (remainingBatches * run.spec.batchSize) / progress.imagesPerSec : progress.etaSeconds;
  }
  if (eta === null && run.startedAt && position > 0) {
    const elapsed = (now - Date.parse(run.startedAt)) / 1000;
    if (elapsed > 0) eta = (elapsed / position) * (epochs - position);
  }
  const fraction = Math.min(1, position / epochs);
  return { fraction, etaSeconds: eta, label: `${position.toFixed(position % 1 === 0 ? 0 : 1)}/${epochs}` };
}
