import type { Schedule } from "./schedule.ts";

/**
 * The canonical text of a schedule: `[value, epoch]shape[value, epoch]…`, one space after each comma,
 * no other whitespace, values as {@link formatScheduleNumber} writes them. Equal schedules get equal
 * text (so the database can index and group by it), and `parseSchedule(formatSchedule(s))` deep-equals
 * `s`. Segments are never merged: `lin[1.2e-3, 8]lin[1.2e-3, 14]` stays two segments.
 *
 * @example
 * ```ts
 * formatSchedule(parseSchedule("[1.e-3, 0]lin[1.e-3,14] cos [1.e-5, 24]lin[6.e-6, 34]"));
 * // "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]"
 * ```
 */
export function formatSchedule(schedule: Schedule): string {
  const { knots, shapes } = schedule;
  if (knots.length !== shapes.length + 1) {
    throw new RangeError(
      `formatSchedule() needs one more knot than shapes, got ${knots.length} knots and ${shapes.length} shapes`,
    );
  }
  let text = "";
  knots.forEach((knot, k) => {
    if (k > 0) text += shapes[k - 1];
    text += `[${formatScheduleNumber(knot.value)}, ${knot.epoch}]`;
  });
  return text;
}

/**
 * The canonical form of a schedule value: scientific notation with the fewest significant digits that
 * read back as the same float64 (so it is exact), `+` and a zero exponent left out, and `0` for zero.
 * This is how the seed writes LRs (`1.e-3`, `1.20e-3`, `6.e-6`), minus the redundant `.`/trailing zeros.
 *
 * @example
 * ```ts
 * formatScheduleNumber(0.001);   // "1e-3"
 * formatScheduleNumber(1.2e-3);  // "1.2e-3"
 * formatScheduleNumber(1.25e-3); // "1.25e-3"
 * formatScheduleNumber(0);       // "0"
 * formatScheduleNumber(0.5);     // "5e-1"
 * formatScheduleNumber(2.5);     // "2.5"
 * formatScheduleNumber(100);     // "1e2"
 * ```
 */
export function formatScheduleNumber(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`a schedule value must be finite, got ${value}`);
  if (value === 0) return "0"; // also -0, which has no place in a schedule
  // toExponential() without an argument uses as few digits as uniquely identify the float64 (ECMA-262).
  const [mantissa, exponent] = value.toExponential().split("e") as [string, string];
  const e = Number(exponent);
  return e === 0 ? mantissa : `${mantissa}e${e}`;
}
