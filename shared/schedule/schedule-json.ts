import { z } from "zod";
import { type Knot, type Schedule, type Shape, SHAPES } from "./schedule.ts";
import { checkKnot } from "./schedule-rules.ts";

/** How an error message names what it found. Never calls the input's own methods: it is untrusted JSON. */
const found = (input: unknown): string => {
  if (input === undefined) return "nothing";
  if (input === null) return "null";
  if (typeof input === "string") return JSON.stringify(input);
  if (typeof input === "number" || typeof input === "boolean") return String(input);
  return Array.isArray(input) ? "an array" : "an object";
};

const knotJsonSchema = z.strictObject({
  shape: z.enum(SHAPES as [Shape, ...Shape[]], {
    error: (issue) => `expected 'lin' or 'cos', found ${found(issue.input)}`,
  }).optional(),
  epoch: z.number({ error: (issue) => `expected a whole epoch number, found ${found(issue.input)}` }),
  value: z.number({ error: (issue) => `expected a finite number ≥ 0, found ${found(issue.input)}` }),
}, {
  error: (issue) =>
    issue.code === "unrecognized_keys"
      ? `expected only shape, epoch and value in a knot, found ${issue.keys.map((k) => `'${k}'`).join(", ")}`
      : issue.code === "invalid_type"
      ? `expected a knot {"epoch": …, "value": …}, found ${
        Array.isArray(issue.input) ? "an array" : found(issue.input)
      }`
      : undefined,
});

/**
 * The structured JSON form of a schedule: the text's brackets in order, each element one knot, and
 * every element after the first says with `shape` how the segment that ends at it runs.
 * It is checked by the same rules as the text (first epoch 0, strictly increasing whole epochs ≤ 1000,
 * finite values ≥ 0, at least one segment); the first element must not have a `shape`.
 */
export type ScheduleJson = z.input<typeof scheduleJsonShapeSchema>;

/**
 * The JSON form's shape only (types and keys), without the rules: the input side of a union such as
 * the run spec's `string | knots` schedule fields, which then apply {@link scheduleFromJson}.
 *
 * @example
 * ```ts
 * scheduleJsonShapeSchema.safeParse([{ epoch: "0", value: 1e-3 }]).success; // false: epoch is not a number
 * ```
 */
export const scheduleJsonShapeSchema = z.array(knotJsonSchema, {
  error: (issue) => `expected an array of knots, found ${found(issue.input)}`,
});

/**
 * Checks the rules on a well-typed JSON form and builds the {@link Schedule}, reporting each broken
 * rule as an issue at its JSON path (`[2, "epoch"]`). Used by {@link scheduleJsonSchema} and by the run
 * spec's schedule fields.
 *
 * @example
 * ```ts
 * const issues: { path: (string | number)[]; message: string }[] = [];
 * scheduleFromJson([{ epoch: 0, value: 1e-3 }, { shape: "cos", epoch: 0, value: 1e-5 }], (i) => issues.push(i));
 * // undefined; issues: [{ path: [1, "epoch"], message: "expected an epoch greater than 0 (epochs must increase), found 0" }]
 * ```
 */
export function scheduleFromJson(
  elements: z.output<typeof scheduleJsonShapeSchema>,
  report: (issue: { path: (string | number)[]; message: string }) => void,
): Schedule | undefined {
  const knots: Knot[] = [];
  const shapes: Shape[] = [];
  let ok = true;
  if (elements.length < 2) {
    report({
      path: [],
      message: `expected at least 2 knots (a schedule needs at least one segment), found ${elements.length}`,
    });
    return undefined;
  }
  elements.forEach((element, i) => {
    const knot = { epoch: element.epoch, value: element.value === 0 ? 0 : element.value }; // no -0
    if (i === 0 && element.shape !== undefined) {
      ok = false;
      report({
        path: [i, "shape"],
        message: `expected no shape on the first knot (a shape names the segment that ends at a knot), ` +
          `found '${element.shape}'`,
      });
    }
    if (i > 0 && element.shape === undefined) {
      ok = false;
      report({
        path: [i, "shape"],
        message: `expected 'lin' or 'cos' (the segment ending at knot ${i}), found none`,
      });
    }
    if (i > 0 && element.shape !== undefined) shapes.push(element.shape);
    // Compare with the previous element as written, so one bad epoch does not cascade into the next.
    const previous = i === 0 ? undefined : elements[i - 1];
    const violation = checkKnot(previous, knot);
    if (violation !== undefined) {
      ok = false;
      report({
        path: [i, violation.field],
        message: `expected ${violation.expected}, found ${knot[violation.field]}`,
      });
    }
    knots.push(knot);
  });
  return ok ? { knots, shapes } : undefined;
}

/**
 * Zod schema for the structured JSON form; parses to a validated {@link Schedule}. Errors name the JSON
 * path of the offending element and the rule.
 *
 * @example
 * ```ts
 * scheduleJsonSchema.parse([
 *   { epoch: 0, value: 1e-3 },
 *   { shape: "lin", epoch: 14, value: 1e-3 },
 *   { shape: "cos", epoch: 24, value: 1e-5 },
 *   { shape: "lin", epoch: 34, value: 6e-6 },
 * ]); // the same Schedule as parseSchedule("[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]")
 * ```
 */
export const scheduleJsonSchema = scheduleJsonShapeSchema.transform((elements, ctx) => {
  const schedule = scheduleFromJson(elements, ({ path, message }) => {
    ctx.issues.push({ code: "custom", path, message, input: elements });
  });
  return schedule ?? z.NEVER;
});

/**
 * The JSON form of a schedule (what {@link scheduleJsonSchema} reads back to the same schedule).
 *
 * @example
 * ```ts
 * scheduleToJson(parseSchedule("[1e-3, 0]cos[1e-5, 30]"));
 * // [{ epoch: 0, value: 0.001 }, { shape: "cos", epoch: 30, value: 0.00001 }]
 * ```
 */
export function scheduleToJson(schedule: Schedule): ScheduleJson {
  return schedule.knots.map((knot, k) =>
    k === 0
      ? { epoch: knot.epoch, value: knot.value }
      : { shape: schedule.shapes[k - 1]!, epoch: knot.epoch, value: knot.value }
  );
}
