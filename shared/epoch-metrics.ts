/**
 * One epoch's metrics as stored in `epoch_metrics` and sent to clients (REST, streams): the one
 * definition every boundary derives from.
 *
 * @example
 * ```ts
 * import { epochMetricsSchema } from "./epoch-metrics.ts";
 * const m = epochMetricsSchema.parse(row); // { epoch: 1, loss, acc, valLoss, valAcc, ... }
 * ```
 */
import { z } from "zod";

export const epochMetricsSchema = z.object({
  /** 1-based, as Keras prints it. */
  epoch: z.int().min(1),
  /** Training loss and accuracy averaged over the epoch's batches. */
  loss: z.number(),
  acc: z.number(),
  /** On the validation set, in inference mode. */
  valLoss: z.number(),
  valAcc: z.number(),
  /** The schedule's learning rate and weight-decay factor at the epoch's end. */
  lr: z.number(),
  wd: z.number(),
  seconds: z.number(),
  imagesPerSec: z.number(),
  /** The attempt that wrote the row. */
  attempt: z.int().min(0),
});

export type EpochMetricsRow = z.output<typeof epochMetricsSchema>;
