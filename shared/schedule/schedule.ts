/**
 * The value of a schedule (LR or weight decay) at an epoch boundary.
 *
 * `epoch` is an integer epoch position (0, 14, 24, …); `value` is finite and ≥ 0.
 */
export interface Knot {
  readonly epoch: number;
  readonly value: number;
}

/**
 * How a segment moves from one knot to the next, at x = (t − e0) / (e1 − e0):
 * `lin`: v0 + (v1 − v0)·x; `cos`: v1 + (v0 − v1)·cos(π/2 · x) (the seed's cosine between 0 and π/2).
 */
export type Shape = "lin" | "cos";

/** The shapes a segment may have, in the order error messages list them. */
export const SHAPES: readonly Shape[] = ["lin", "cos"];

/**
 * The largest last epoch a schedule may have. A schedule's last epoch is the run's epoch count, and
 * the seed's longest runs are 60 epochs; 1000 keeps typos (`340` for `34`) from becoming month-long runs.
 */
export const MAX_EPOCH = 1000;

/**
 * A parsed, validated piecewise schedule: `knots[k]` → `knots[k + 1]` follows `shapes[k]`.
 *
 * Invariants (enforced by {@link parseSchedule} and the structured JSON form, never by the type):
 * at least two knots; `knots[0].epoch === 0`; epochs are integers, strictly increasing, last ≤
 * {@link MAX_EPOCH}; values are finite and ≥ 0; `shapes.length === knots.length - 1`.
 *
 * Epochs are integers on purpose: every schedule in the seed uses them, a run trains whole epochs (the
 * last knot is the epoch count), and the per-epoch rows in the database line up with the knots. At
 * iteration `e·stepsPerEpoch` the position `i / stepsPerEpoch` is then exactly `e`, so the knot's own
 * value is used, whatever the steps per epoch.
 *
 * @example
 * ```ts
 * const s: Schedule = {
 *   knots: [{ epoch: 0, value: 1e-3 }, { epoch: 14, value: 1e-3 }, { epoch: 24, value: 1e-5 }],
 *   shapes: ["lin", "cos"],
 * }; // the text "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]"
 * ```
 */
export interface Schedule {
  readonly knots: readonly Knot[];
  readonly shapes: readonly Shape[];
}
