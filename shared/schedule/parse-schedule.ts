import type { Knot, Schedule, Shape } from "./schedule.ts";
import { checkKnot } from "./schedule-rules.ts";
import { ScheduleSyntaxError } from "./schedule-syntax-error.ts";

/**
 * Parses the seed's schedule notation into a validated {@link Schedule}.
 *
 * Grammar (whitespace — space, tab, CR, LF — is allowed between all tokens):
 * ```
 * schedule := knot (shape knot)+
 * knot     := "[" value "," epoch "]"
 * shape    := "lin" | "cos"
 * value    := digits ("." digits?)? exponent? | "." digits exponent?     (1.e-3, 1e-3, 0.001, .5, 0)
 * exponent := ("e" | "E") ("+" | "-")? digits
 * epoch    := digits                                                     (a whole epoch)
 * ```
 * Rules: the first epoch is 0, epochs strictly increase, the last is ≤ 1000 (`MAX_EPOCH`), values are
 * finite and ≥ 0, at least one segment. Values are read with `Number()`, i.e. rounded to the nearest
 * float64, so `1.e-3`, `1e-3` and `0.001` give the same schedule.
 *
 * @throws {ScheduleSyntaxError} with the offset, what was expected and what was found.
 * @throws {TypeError} if `text` is not a string.
 *
 * @example
 * ```ts
 * parseSchedule("[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]");
 * // { knots: [{ epoch: 0, value: 0.001 }, { epoch: 14, value: 0.001 }, { epoch: 24, value: 0.00001 },
 * //           { epoch: 34, value: 0.000006 }], shapes: ["lin", "cos", "lin"] }
 * parseSchedule("[1e-3, 0]sin[1e-5, 30]");
 * // throws ScheduleSyntaxError: Cannot parse schedule: expected 'lin' or 'cos' at offset 9, found 'sin'
 * ```
 */
export function parseSchedule(text: string): Schedule {
  if (typeof text !== "string") {
    throw new TypeError(`parseSchedule() expects a string, got ${text === null ? "null" : typeof text}`);
  }
  return new Parser(text).parse();
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isLetter = (c: string | undefined) => c !== undefined && /^[A-Za-z_]$/.test(c);
const isWhitespace = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r";
/** Characters that may continue something that looks like a number, to show the whole token found. */
const isNumberish = (c: string | undefined) => c !== undefined && /^[0-9.eE+\-]$/.test(c);

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): Schedule {
    const knots: Knot[] = [];
    const shapes: Shape[] = [];
    this.skipWhitespace();
    knots.push(this.knot(undefined));
    for (;;) {
      this.skipWhitespace();
      if (this.pos >= this.text.length) break;
      shapes.push(this.shape(knots.length > 1));
      this.skipWhitespace();
      knots.push(this.knot(knots[knots.length - 1]));
    }
    if (shapes.length === 0) this.fail(this.pos, "'lin' or 'cos' (a schedule needs at least one segment)");
    return { knots, shapes };
  }

  private knot(previous: Knot | undefined): Knot {
    this.expectChar("[");
    this.skipWhitespace();
    const valueAt = this.pos;
    const value = this.value();
    this.skipWhitespace();
    this.expectChar(",");
    this.skipWhitespace();
    const epochAt = this.pos;
    const epoch = this.epoch();
    this.skipWhitespace();
    this.expectChar("]");
    const knot = { epoch, value };
    const violation = checkKnot(previous, knot);
    if (violation !== undefined) {
      this.fail(violation.field === "value" ? valueAt : epochAt, violation.expected);
    }
    return knot;
  }

  private shape(afterSegment: boolean): Shape {
    const start = this.pos;
    while (isLetter(this.text[this.pos]) || isDigit(this.text[this.pos])) this.pos++;
    const word = this.text.slice(start, this.pos);
    if (word === "lin" || word === "cos") return word;
    // After a complete segment the text may also end here, so say so: this is the trailing-text case.
    this.pos = start;
    return this.fail(start, afterSegment ? "'lin', 'cos' or end of input" : "'lin' or 'cos'");
  }

  private value(): number {
    const start = this.pos;
    const c = this.text[this.pos];
    if (c === "-" || c === "+") {
      this.fail(start, c === "-" ? "a number ≥ 0" : "a number without a sign");
    }
    let mantissaDigits = this.digits();
    if (this.text[this.pos] === ".") {
      this.pos++;
      mantissaDigits += this.digits();
    }
    if (mantissaDigits === 0) this.fail(start, "a number");
    if (this.text[this.pos] === "e" || this.text[this.pos] === "E") {
      this.pos++;
      if (this.text[this.pos] === "+" || this.text[this.pos] === "-") this.pos++;
      if (this.digits() === 0) this.fail(start, "a number (digits after the exponent's 'e')");
    }
    const value = Number(this.text.slice(start, this.pos));
    // Finite and non-negative are checked with the knot's rules, which point at this offset too.
    return value;
  }

  private epoch(): number {
    const start = this.pos;
    const c = this.text[this.pos];
    if (c === "-") this.fail(start, "a whole, non-negative epoch");
    if (this.digits() === 0) this.fail(start, "an epoch (digits)");
    // "14.5", "1e2": a fraction or exponent where a whole epoch belongs ("0lin" is a missing "]").
    const next = this.text[this.pos];
    if (next === "." || next === "e" || next === "E") this.fail(start, "a whole epoch (digits only)");
    return Number(this.text.slice(start, this.pos));
  }

  private digits(): number {
    const start = this.pos;
    while (isDigit(this.text[this.pos])) this.pos++;
    return this.pos - start;
  }

  private expectChar(char: string): void {
    if (this.text[this.pos] !== char) this.fail(this.pos, `'${char}'`);
    this.pos++;
  }

  private skipWhitespace(): void {
    while (isWhitespace(this.text[this.pos])) this.pos++;
  }

  private fail(offset: number, expected: string): never {
    throw new ScheduleSyntaxError(offset, expected, this.tokenAt(offset));
  }

  /** What is at `offset`, as the user would call it: a word, a number-like run, or one character. */
  private tokenAt(offset: number): string {
    const c = this.text[offset];
    if (c === undefined) return "end of input";
    let end = offset + 1;
    if (isLetter(c)) {
      while (isLetter(this.text[end]) || isDigit(this.text[end])) end++;
    } else if (isNumberish(c)) {
      while (isNumberish(this.text[end])) end++;
    }
    const token = this.text.slice(offset, Math.min(end, offset + 24));
    return `'${token}${end > offset + 24 ? "…" : ""}'`;
  }
}
