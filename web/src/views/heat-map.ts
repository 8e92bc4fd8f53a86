import type { Run } from "../api-types.ts";
import { h } from "../dom.ts";
import { fixed, param } from "../format.ts";

/** Run parameters a sweep may vary, by the dotted path of the run spec. */
export const SWEEP_PARAMS: { path: string; label: string; get: (r: Run) => unknown }[] = [
  { path: "optimizer.lambda", label: "λ", get: (r) => r.spec.optimizer.lambda },
  { path: "optimizer.alpha", label: "α", get: (r) => r.spec.optimizer.alpha },
  { path: "optimizer.l2", label: "l2", get: (r) => r.spec.optimizer.l2 },
  { path: "data.shift", label: "shift", get: (r) => r.spec.data.shift },
  { path: "batchSize", label: "batch size", get: (r) => r.spec.batchSize },
  { path: "data.seed", label: "seed", get: (r) => r.spec.data.seed },
  { path: "schedule", label: "schedule", get: (r) => r.spec.schedule },
];

export type HeatMetric = "thresholdEpoch" | "bestValAcc" | "finalValLoss";
export const HEAT_METRICS: { key: HeatMetric; label: string; better: "low" | "high"; digits: number }[] = [
  { key: "thresholdEpoch", label: "threshold epoch", better: "low", digits: 1 },
  { key: "bestValAcc", label: "best val acc", better: "high", digits: 5 },
  { key: "finalValLoss", label: "final val loss", better: "low", digits: 4 },
];

/** The parameters whose value differs between the runs: the axes a heat map can have. */
export function sweptParams(runs: readonly Run[]): typeof SWEEP_PARAMS {
  return SWEEP_PARAMS.filter((p) => new Set(runs.map((r) => JSON.stringify(p.get(r)))).size > 1);
}

function sortKeys(values: unknown[]): unknown[] {
  return [...new Set(values.map((v) => JSON.stringify(v)))].map((s) => JSON.parse(s) as unknown)
    .sort((a, b) => (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b))));
}

const label = (v: unknown) => (typeof v === "number" ? param(v) : String(v));

/**
 * A heat map of one summary figure over two swept parameters (the seed's λ × α), as a table: each cell
 * the mean over the runs with those values (repeats, other swept parameters), coloured from worst
 * (light) to best (dark green), a link to the run or to a comparison of the runs. A run that never
 * reached the threshold counts as the schedule's length + 1 for the colour and shows "—".
 */
export function heatMap(runs: readonly Run[], xPath: string, yPath: string | null, metric: HeatMetric): HTMLElement {
  const xp = SWEEP_PARAMS.find((p) => p.path === xPath)!;
  const yp = yPath ? SWEEP_PARAMS.find((p) => p.path === yPath) ?? null : null;
  const m = HEAT_METRICS.find((k) => k.key === metric)!;
  const xs = sortKeys(runs.map(xp.get));
  const ys = yp ? sortKeys(runs.map(yp.get)) : [null];
  const cell = new Map<string, Run[]>();
  for (const r of runs) {
    const key = JSON.stringify([xp.get(r), yp ? yp.get(r) : null]);
    cell.set(key, [...(cell.get(key) ?? []), r]);
  }
  const value = (r: Run): number | null => {
    const v = r.summary[metric];
    if (metric === "thresholdEpoch" && v === null && r.state === "succeeded") return r.epochs + 1;
    return v;
  };
  const means = new Map<string, { mean: number | null; n: number; missing: number; runs: Run[] }>();
  for (const [key, list] of cell) {
    const vals = list.map(value).filter((v): v is number => v !== null);
    const missing = metric === "thresholdEpoch" ? list.filter((r) => r.summary.thresholdEpoch === null).length : 0;
    means.set(key, { mean: vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null, n: list.length, missing, runs: list });
  }
  const all = [...means.values()].map((c) => c.mean).filter((v): v is number => v !== null);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const shade = (v: number): number => {
    const t = hi === lo ? 1 : (v - lo) / (hi - lo);
    return m.better === "high" ? t : 1 - t;
  };
  return h("table", { class: "heatmap", id: "heatmap", "aria-label": `${m.label} by ${xp.label}${yp ? ` and ${yp.label}` : ""}` },
    h("caption", {}, `${m.label} (${m.better === "low" ? "lower" : "higher"} is better; darker is better)`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, yp ? `${yp.label} \\ ${xp.label}` : xp.label), xs.map((x) => h("th", { scope: "col" }, label(x))))),
    h("tbody", {}, ys.map((y) => h("tr", {},
      h("th", { scope: "row" }, yp ? label(y) : m.label),
      xs.map((x) => {
        const c = means.get(JSON.stringify([x, y]));
        if (!c) return h("td", { class: "empty" }, "");
        const t = c.mean === null ? null : shade(c.mean);
        const text = c.mean === null || (metric === "thresholdEpoch" && c.missing === c.n) ? "—" : m.key === "thresholdEpoch" ? (c.n > 1 ? fixed(c.mean, 1) : String(c.mean)) : fixed(c.mean, m.digits);
        const href = c.runs.length === 1 ? `#/runs/${c.runs[0]!.id}` : `#/compare?ids=${c.runs.map((r) => r.id).join(",")}`;
        const style = t === null ? "" : `background:hsl(150, 45%, ${Math.round(92 - 62 * t)}%);color:${t > 0.55 ? "#fff" : "#111"}`;
        return h("td", { style, "data-value": c.mean === null ? "" : String(c.mean) },
          h("a", { href, title: `${c.n} run${c.n > 1 ? "s" : ""}${c.missing ? `, ${c.missing} below threshold` : ""}` }, text, c.n > 1 ? h("small", {}, ` ×${c.n}`) : null));
      })))));
}
