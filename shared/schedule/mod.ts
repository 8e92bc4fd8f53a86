/**
 * The schedule language: the seed's `[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]` notation,
 * its structured JSON form, canonical text and per-iteration evaluation.
 *
 * @example
 * ```ts
 * import { formatSchedule, parseSchedule, scheduleValueAtIteration } from "./shared/schedule/mod.ts";
 * const s = parseSchedule("[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]");
 * formatSchedule(s); // "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]"
 * scheduleValueAtIteration(s, 11875, 625); // 7.100357133746822e-4 (epoch 19, halfway down the cosine)
 * ```
 */
export { type Knot, MAX_EPOCH, type Schedule, type Shape, SHAPES } from "./schedule.ts";
export { ScheduleSyntaxError } from "./schedule-syntax-error.ts";
export { parseSchedule } from "./parse-schedule.ts";
export { formatSchedule, formatScheduleNumber } from "./format-schedule.ts";
export { lastEpoch, peakValue, scheduleValueAt, scheduleValueAtIteration } from "./evaluate-schedule.ts";
export { type ScheduleJson, scheduleJsonSchema, scheduleToJson } from "./schedule-json.ts";
export { type ScheduleRow, scheduleRows, type WeightDecaySource } from "./schedule-rows.ts";
