import type uPlot from "uplot";
import type { EpochRow } from "../api-types.ts";

export type MetricKey = "loss" | "valLoss" | "acc" | "valAcc";

/**
 * uPlot's aligned data for several runs' curves of one metric: x is every epoch any run has, each
 * run's series is null where it has no row (a run still going, or a shorter schedule).
 *
 * @example
 * ```ts
 * overlayData([[{ epoch: 1, valAcc: 0.5, … }], []], "valAcc"); // [[1], [0.5], [null]]
 * ```
 */
export function overlayData(runs: readonly (readonly EpochRow[])[], key: MetricKey): uPlot.AlignedData {
  let maxEpoch = 0;
  for (const metrics of runs) for (const m of metrics) if (m.epoch > maxEpoch) maxEpoch = m.epoch;
  const x = Array.from({ length: maxEpoch }, (_, i) => i + 1);
  const series = runs.map((metrics) => {
    const ys: (number | null)[] = new Array(maxEpoch).fill(null);
    for (const m of metrics) ys[m.epoch - 1] = m[key];
    return ys;
  });
  return [x, ...series];
}
