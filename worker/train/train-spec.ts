/**
 * The run-spec fields the training engine reads, with defaults applied. shared/run-spec.ts parses and
 * defaults the JSON; a parsed RunSpec satisfies this interface (checked below at compile time).
 */
import { createHash } from "node:crypto";
import type { RunSpec } from "../../shared/run-spec.ts";
import type { DataOptions } from "../data/prepare-data.ts";

export interface TrainSpec {
  name?: string | undefined;
  model: { depth: number } & Record<string, unknown>;
  data: DataOptions;
  optimizer: {
    /** α, the initial LR, shown in summaries; the schedule gives the LR of every step. */
    alpha: number;
    /** Keras AdamW `weight_decay`: the decay per step is lr(i)·λ. */
    lambda: number;
    /** Keras `l2(l2)` on the conv kernels, added to the loss. */
    l2: number;
    beta1?: number;
    beta2?: number;
    epsilon?: number;
  };
  batchSize: number;
  /** The LR schedule text, e.g. "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]". */
  schedule: string;
  /** A separate weight-decay schedule whose value is the per-step decay factor; replaces lr·λ. */
  wdSchedule?: string | undefined;
  threshold: number;
}

/** A parsed RunSpec is a TrainSpec: this line stops compiling if the two drift apart. */
export const runSpecIsTrainSpec: (spec: RunSpec) => TrainSpec = (spec) => spec;

/**
 * A hash of the fields that change the numbers a run produces (not its name, tags, priority or
 * threshold), stored in checkpoints so a checkpoint is never resumed under a different spec.
 */
export function specFingerprint(spec: TrainSpec): string {
  const { model, data, optimizer, batchSize, schedule, wdSchedule } = spec;
  const relevant = { model, data, optimizer, batchSize, schedule, wdSchedule };
  return createHash("sha256").update(stableStringify(relevant)).digest("hex").slice(0, 32);
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableStringify(x)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}
