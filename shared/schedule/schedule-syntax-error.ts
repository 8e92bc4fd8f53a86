/**
 * A schedule that does not follow the grammar or its rules, with where and what was expected.
 *
 * `offset` is the 0-based index (UTF-16 code unit) into the text where the problem starts, `expected`
 * says what would have been valid there, `found` what is there (quoted, or `end of input`).
 *
 * @example
 * ```ts
 * try {
 *   parseSchedule("[1e-3, 0]sin[1e-5, 30]");
 * } catch (e) {
 *   if (e instanceof ScheduleSyntaxError) console.log(e.offset, e.expected, e.found);
 *   // 9 "'lin' or 'cos'" "'sin'"
 *   // e.message: "Cannot parse schedule: expected 'lin' or 'cos' at offset 9, found 'sin'"
 * }
 * ```
 */
export class ScheduleSyntaxError extends SyntaxError {
  override name = "ScheduleSyntaxError";
  readonly offset: number;
  readonly expected: string;
  readonly found: string;

  constructor(offset: number, expected: string, found: string) {
    super(`Cannot parse schedule: expected ${expected} at offset ${offset}, found ${found}`);
    this.offset = offset;
    this.expected = expected;
    this.found = found;
  }
}
