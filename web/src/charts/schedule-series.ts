import { lastEpoch, parseSchedule, scheduleValueAtIteration } from "../../../shared/schedule/mod.ts";
import type { Schedule } from "../../../shared/schedule/mod.ts";

/** LR and per-step weight decay by iteration, ready for a uPlot chart (x, lr, wd). */
export interface ScheduleSeries {
  iterations: number[];
  epochs: number[];
  lr: number[];
  wd: number[];
  stepsPerEpoch: number;
  totalIterations: number;
}

/**
 * The run's LR and coupled weight decay (d = lr(i)·λ, Keras AdamW) per iteration, computed with the
 * same evaluator the worker trains with. A 34-epoch CIFAR-10 run has 21,250 iterations; drawing more
 * points than the chart has pixels only costs time, so at most `maxPoints` iterations are sampled, always
 * including each knot's iteration so corners stay sharp. A separate weight-decay schedule (the spec's
 * `wdSchedule`) gives d directly.
 *
 * @example
 * ```ts
 * const s = scheduleSeries("[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]", 625, { lambda: 0.15 });
 * s.lr[0]; // 0.001; s.wd[0] // 0.00015
 * ```
 */
export function scheduleSeries(
  schedule: Schedule | string,
  stepsPerEpoch: number,
  wd: { lambda: number } | { schedule: Schedule | string },
  maxPoints = 2000,
): ScheduleSeries {
  const lrSchedule = typeof schedule === "string" ? parseSchedule(schedule) : schedule;
  const wdSchedule = "schedule" in wd ? (typeof wd.schedule === "string" ? parseSchedule(wd.schedule) : wd.schedule) : null;
  const total = lastEpoch(lrSchedule) * stepsPerEpoch;
  const picked = new Set<number>();
  const n = Math.min(total, Math.max(2, maxPoints));
  for (let k = 0; k <= n; k++) picked.add(Math.round((k * total) / n));
  for (const knot of lrSchedule.knots) picked.add(knot.epoch * stepsPerEpoch);
  for (const knot of wdSchedule?.knots ?? []) picked.add(Math.min(total, knot.epoch * stepsPerEpoch));
  const iterations = [...picked].sort((a, b) => a - b);
  const lr = iterations.map((i) => scheduleValueAtIteration(lrSchedule, i, stepsPerEpoch));
  const decay = wdSchedule
    ? iterations.map((i) => scheduleValueAtIteration(wdSchedule, Math.min(i, lastEpoch(wdSchedule) * stepsPerEpoch), stepsPerEpoch))
    : lr.map((v) => v * ("lambda" in wd ? wd.lambda : 0));
  return {
    iterations,
    epochs: iterations.map((i) => i / stepsPerEpoch),
    lr,
    wd: decay,
    stepsPerEpoch,
    totalIterations: total,
  };
}
