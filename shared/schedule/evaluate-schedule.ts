import type { Schedule } from "./schedule.ts";

/**
 * The schedule's value at a (fractional) epoch position t, 0 ≤ t ≤ last epoch, per the design:
 * on the segment (e0, v0) → (e1, v1) with x = (t − e0) / (e1 − e0),
 * `lin`: v0 + (v1 − v0)·x and `cos`: v1 + (v0 − v1)·cos(π/2 · x).
 * At a knot's epoch it returns the knot's value itself (no rounding from the formula).
 *
 * @throws {RangeError} if t is not a finite number in [0, last epoch].
 *
 * @example
 * ```ts
 * const s = parseSchedule("[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]");
 * scheduleValueAt(s, 14);   // 0.001 (the knot)
 * scheduleValueAt(s, 19);   // 1e-5 + (1e-3 - 1e-5) * Math.cos(Math.PI / 2 * 0.5) ≈ 7.1e-4
 * scheduleValueAt(s, 34);   // 6e-6
 * ```
 */
export function scheduleValueAt(schedule: Schedule, position: number): number {
  const { knots, shapes } = schedule;
  const last = knots[knots.length - 1];
  if (last === undefined || knots.length !== shapes.length + 1) {
    throw new RangeError(`not a schedule: ${knots.length} knots and ${shapes.length} shapes`);
  }
  if (typeof position !== "number" || !Number.isFinite(position) || position < 0 || position > last.epoch) {
    throw new RangeError(
      `the epoch position must be a number in [0, ${last.epoch}] (the schedule's last epoch), got ${position}`,
    );
  }
  // Schedules have a handful of segments: a linear scan is simplest and fast enough per step.
  for (let k = 0; k < shapes.length; k++) {
    const start = knots[k]!;
    const end = knots[k + 1]!;
    if (position === start.epoch) return start.value;
    if (position < end.epoch) {
      const x = (position - start.epoch) / (end.epoch - start.epoch);
      return shapes[k] === "lin"
        ? start.value + (end.value - start.value) * x
        : end.value + (start.value - end.value) * Math.cos(Math.PI / 2 * x);
    }
  }
  return last.value;
}

/**
 * The value used for the update at 0-based iteration i: f(i / stepsPerEpoch), so it changes every
 * batch. At i = e·stepsPerEpoch for a knot's epoch e the position is exactly e and the knot's value is
 * returned. Training runs iterations 0 … lastEpoch(s)·stepsPerEpoch − 1; the end itself is allowed too.
 *
 * @throws {RangeError} if i is not a non-negative integer, stepsPerEpoch not a positive integer, or
 *   i / stepsPerEpoch is past the schedule's last epoch.
 *
 * @example
 * ```ts
 * const s = parseSchedule("[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]");
 * scheduleValueAtIteration(s, 14 * 625, 625); // 0.001
 * scheduleValueAtIteration(s, 15000, 625);    // f(24) = 1e-5
 * ```
 */
export function scheduleValueAtIteration(
  schedule: Schedule,
  iteration: number,
  stepsPerEpoch: number,
): number {
  if (!Number.isSafeInteger(stepsPerEpoch) || stepsPerEpoch < 1) {
    throw new RangeError(`stepsPerEpoch must be a positive integer, got ${stepsPerEpoch}`);
  }
  if (!Number.isSafeInteger(iteration) || iteration < 0) {
    throw new RangeError(`the iteration must be a non-negative integer, got ${iteration}`);
  }
  const end = lastEpoch(schedule) * stepsPerEpoch;
  if (iteration > end) {
    throw new RangeError(
      `iteration ${iteration} is past the schedule's end (epoch ${lastEpoch(schedule)} = iteration ${end} ` +
        `at ${stepsPerEpoch} steps per epoch)`,
    );
  }
  return scheduleValueAt(schedule, iteration / stepsPerEpoch);
}

/**
 * The schedule's last epoch: the run's number of epochs.
 *
 * @example
 * ```ts
 * lastEpoch(parseSchedule("[1e-3, 0]cos[1e-5, 30]lin[5e-6, 50]")); // 50
 * ```
 */
export function lastEpoch(schedule: Schedule): number {
  const last = schedule.knots[schedule.knots.length - 1];
  if (last === undefined) throw new RangeError("not a schedule: it has no knots");
  return last.epoch;
}

/**
 * The largest value the schedule reaches. Segments are monotone between their knots (lin and cos over
 * 0..π/2 both are), so this is the largest knot value. For an LR schedule it is the seed's α.
 *
 * @example
 * ```ts
 * peakValue(parseSchedule("[8e-4, 0]lin[1.2e-3, 8]lin[1.2e-3, 14]cos[1e-5, 24]lin[6e-6, 34]")); // 0.0012
 * ```
 */
export function peakValue(schedule: Schedule): number {
  if (schedule.knots.length === 0) throw new RangeError("not a schedule: it has no knots");
  return Math.max(...schedule.knots.map((k) => k.value));
}
