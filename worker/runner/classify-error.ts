import type { RunError, RunErrorCode } from "../../shared/queue/queue-types.ts";

/**
 * A failure of the run itself (its spec, its data, its numbers), which another attempt would repeat:
 * the run ends `failed` at once. Trainers throw it, or errors with one of these `code`s.
 */
export class RunFailure extends Error {
  override name = "RunFailure";
  constructor(readonly code: Exclude<RunErrorCode, "crashed" | "lease_expired" | "attempts_exhausted" | "checkpoint_damaged">, message: string) {
    super(message);
  }
}

const PERMANENT = new Set<string>(["diverged", "invalid_spec", "invalid_data", "out_of_memory", "checkpoint_mismatch", "checkpoint_unloadable"]);
const OUT_OF_MEMORY = /out of memory|\bOOM\b|allocation failed|Cannot allocate|Aborted\(OOM\)/i;

/**
 * Decides what an error thrown while training means for the run: permanent failures (`retryable:
 * false`) by their `code` or an out-of-memory message; anything else is an infrastructure failure or a
 * bug ("crashed"), retried on a fresh attempt up to max_attempts.
 *
 * @example
 * classifyError(new TrainingDivergedError(3, 17, 1267, NaN)); // { retryable: false, error: { code: "diverged", … } }
 */
export function classifyError(e: unknown): { error: RunError; retryable: boolean } {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  const detail: Record<string, unknown> = { name: err.name };
  if (typeof code === "string" && PERMANENT.has(code)) {
    return { error: { code: code as RunErrorCode, message: err.message, detail }, retryable: false };
  }
  if (OUT_OF_MEMORY.test(err.message) || err instanceof RangeError && /buffer|memory/i.test(err.message)) {
    return { error: { code: "out_of_memory", message: err.message, detail }, retryable: false };
  }
  if (typeof code === "string") detail.code = code;
  if (err.stack) detail.stack = err.stack.split("\n").slice(0, 8).join("\n");
  return { error: { code: "crashed", message: err.message, detail }, retryable: true };
}
