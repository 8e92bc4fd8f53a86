import { lastEpoch, scheduleValueAtIteration } from "./evaluate-schedule.ts";
import type { Schedule } from "./schedule.ts";

/** One training iteration's schedule values; `wd` only when a weight-decay source was given. */
export interface ScheduleRow {
  /** 0-based iteration (update step). */
  readonly iteration: number;
  /** The epoch position iteration / stepsPerEpoch at which the schedule is evaluated. */
  readonly epoch: number;
  /** The learning rate of this update. */
  readonly lr: number;
  /** The per-step decay factor d of this update (every weight w becomes w − d·w before the Adam step). */
  readonly wd?: number;
}

/**
 * Where the per-step weight decay comes from: coupled to the LR as in the seed and Keras AdamW
 * (d = lr(i)·λ), or a separate schedule whose value is d itself (the run spec's `wdSchedule`).
 */
export type WeightDecaySource = { readonly lambda: number } | { readonly schedule: Schedule };

/**
 * Every training iteration 0 … lastEpoch·stepsPerEpoch − 1 with its epoch position and LR (and the
 * weight decay, if asked), lazily, in order. This is what `npm run schedule` prints and what a training
 * loop applies per batch.
 *
 * @throws {RangeError} if stepsPerEpoch is not a positive integer, λ is negative or not finite, or the
 *   weight-decay schedule ends at another epoch than the LR schedule.
 *
 * @example
 * ```ts
 * const s = parseSchedule("[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]");
 * const rows = [...scheduleRows(s, 625)]; // 21250 rows
 * rows[8750]; // { iteration: 8750, epoch: 14, lr: 0.001 }
 * [...scheduleRows(s, 625, { lambda: 0.15 })][0]; // { iteration: 0, epoch: 0, lr: 0.001, wd: 0.00015 }
 * ```
 */
export function scheduleRows(
  schedule: Schedule,
  stepsPerEpoch: number,
  weightDecay?: WeightDecaySource,
): Generator<ScheduleRow, void, undefined> {
  // Checked here, not in the generator, so misuse throws at the call rather than at the first next().
  if (!Number.isSafeInteger(stepsPerEpoch) || stepsPerEpoch < 1) {
    throw new RangeError(`stepsPerEpoch must be a positive integer, got ${stepsPerEpoch}`);
  }
  if (weightDecay !== undefined && "lambda" in weightDecay) {
    if (!Number.isFinite(weightDecay.lambda) || weightDecay.lambda < 0) {
      throw new RangeError(`lambda must be a finite number ≥ 0, got ${weightDecay.lambda}`);
    }
  }
  if (weightDecay !== undefined && "schedule" in weightDecay) {
    if (lastEpoch(weightDecay.schedule) !== lastEpoch(schedule)) {
      throw new RangeError(
        `the weight-decay schedule must end at the LR schedule's last epoch ${lastEpoch(schedule)}, ` +
          `got ${lastEpoch(weightDecay.schedule)}`,
      );
    }
  }
  return rows(schedule, stepsPerEpoch, weightDecay);
}

function* rows(
  schedule: Schedule,
  stepsPerEpoch: number,
  weightDecay: WeightDecaySource | undefined,
): Generator<ScheduleRow, void, undefined> {
  const iterations = lastEpoch(schedule) * stepsPerEpoch;
  for (let iteration = 0; iteration < iterations; iteration++) {
    const epoch = iteration / stepsPerEpoch;
    const lr = scheduleValueAtIteration(schedule, iteration, stepsPerEpoch);
    if (weightDecay === undefined) {
      yield { iteration, epoch, lr };
    } else {
      const wd = "lambda" in weightDecay
        ? lr * weightDecay.lambda
        : scheduleValueAtIteration(weightDecay.schedule, iteration, stepsPerEpoch);
      yield { iteration, epoch, lr, wd };
    }
  }
}
