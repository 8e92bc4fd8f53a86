import { MAX_EPOCH } from "./schedule.ts";

/** A broken rule: which part of the knot, and what would have been valid (for error messages). */
export interface KnotRuleViolation {
  readonly field: "epoch" | "value";
  readonly expected: string;
}

/**
 * The rules one knot must follow given the knot before it (undefined for the first knot), shared by
 * the text parser (which reports an offset) and the structured JSON form (which reports a path), so
 * both accept exactly the same schedules.
 *
 * @example
 * ```ts
 * checkKnot({ epoch: 14, value: 1e-3 }, { epoch: 10, value: 1e-5 });
 * // { field: "epoch", expected: "an epoch greater than 14 (epochs must increase)" }
 * checkKnot(undefined, { epoch: 0, value: 1e-3 }); // undefined: valid
 * ```
 */
export function checkKnot(
  previous: { readonly epoch: number } | undefined,
  knot: { readonly epoch: number; readonly value: number },
): KnotRuleViolation | undefined {
  if (!Number.isFinite(knot.value)) return { field: "value", expected: "a finite number" };
  if (knot.value < 0) return { field: "value", expected: "a number ≥ 0" };
  if (!Number.isInteger(knot.epoch) || knot.epoch < 0) {
    return { field: "epoch", expected: "a whole, non-negative epoch" };
  }
  if (previous === undefined) {
    if (knot.epoch !== 0) return { field: "epoch", expected: "epoch 0 (a schedule starts at epoch 0)" };
    return undefined;
  }
  if (knot.epoch <= previous.epoch) {
    return { field: "epoch", expected: `an epoch greater than ${previous.epoch} (epochs must increase)` };
  }
  if (knot.epoch > MAX_EPOCH) return { field: "epoch", expected: `an epoch ≤ ${MAX_EPOCH}` };
  return undefined;
}
