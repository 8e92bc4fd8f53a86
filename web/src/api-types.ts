// The dashboard's view of the API: the response types come from the API's own zod schemas in
// shared/api-schemas.ts (type-only imports: nothing of them lands in the bundle), the stream messages
// from shared/stream-messages.ts.
import type { z } from "zod";
import type { epochMetricsSchema, RunView, SweepView } from "../../shared/api-schemas.ts";
import type { RunState } from "../../shared/run-states.ts";
import type { ProgressMessage } from "../../shared/stream-messages.ts";

export { RUN_STATES, type RunState } from "../../shared/run-states.ts";

export type Run = RunView;
export type RunSummary = RunView["summary"];
export type Sweep = SweepView;
export type EpochMetric = z.output<typeof epochMetricsSchema>;
/** What the summary needs of an epoch row. */
export type EpochRow = Pick<EpochMetric, "epoch" | "loss" | "acc" | "valLoss" | "valAcc">;

export function isTerminal(state: RunState): boolean {
  return state === "succeeded" || state === "failed" || state === "cancelled";
}

/** The latest progress message of a running epoch, with when it arrived. */
export type Progress = Omit<ProgressMessage, "type" | "runId" | "seq" | "attempt"> & { receivedAt: number };

/** A run's error as the worker recorded it (`{ code, message }`), or whatever else the API holds. */
export interface RunError {
  code?: string;
  message: string;
}

export function toRunError(v: unknown): RunError | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return { message: v };
  if (typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const message = typeof o.message === "string" ? o.message : JSON.stringify(v);
    return typeof o.code === "string" ? { code: o.code, message } : { message };
  }
  return { message: String(v) };
}

export interface RunFilter {
  state?: RunState | "";
  sweep?: string;
  tag?: string;
  namePrefix?: string;
}
