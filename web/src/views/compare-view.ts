import type { ApiClient } from "../api-client.ts";
import type { EpochMetric, Run } from "../api-types.ts";
import type { View } from "../app-context.ts";
import { LineChart, seriesColor } from "../charts/line-chart.ts";
import { type MetricKey, overlayData } from "../charts/overlay.ts";
import { h } from "../dom.ts";
import { LiveStream } from "../live-stream.ts";
import { summarizeMetrics, upsertEpoch } from "../run-summary.ts";
import { markRendered } from "../render-mark.ts";
import { COLUMNS } from "./run-columns.ts";

const CHARTS: { key: MetricKey; title: string; y: string }[] = [
  { key: "valAcc", title: "val_acc per epoch", y: "val_acc" },
  { key: "valLoss", title: "val_loss per epoch", y: "val_loss" },
  { key: "acc", title: "acc per epoch", y: "acc" },
  { key: "loss", title: "loss per epoch", y: "loss" },
];

/** Several runs' curves overlaid (ids in `?ids=a,b,c`), with their seed-table rows; live. */
export const compareView: View = (root, ctx, params) => {
  const ids = (params.get("ids") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  root.append(h("section", { class: "toolbar" }, h("h2", {}, "Compare runs")));
  if (ids.length === 0) {
    root.append(h("p", {}, "Select runs in the ", h("a", { href: "#/" }, "runs table"), " and press “Compare selected”, or open a sweep."));
    return () => {};
  }
  return mountComparison(root, ctx.api, ctx.token, ids, ctx.notify);
};

/**
 * The comparison itself, shared with the sweep view: four overlaid charts and the runs' rows, updated
 * from `/v1/stream` (filtered to these runs). Returns its unmount function.
 */
export function mountComparison(
  root: HTMLElement,
  api: ApiClient,
  token: () => string,
  ids: string[],
  notify: (m: string, k?: "info" | "error") => void,
  options: { streamPath?: string; preloaded?: Run[]; metrics?: Promise<Map<string, EpochMetric[]>>; onUpdate?: (runs: Run[]) => void } = {},
): () => void {
  const preloaded = new Map((options.preloaded ?? []).map((r) => [r.id, r]));
  const runs: Run[] = [];
  const metrics = new Map<string, EpochMetric[]>();
  const charts: LineChart[] = [];
  let stream: LiveStream | null = null;
  let disposed = false;
  let redrawQueued = false;
  const grid = h("section", { class: "charts compare", "aria-label": "Overlaid charts" });
  const tableBox = h("div", { class: "table-wrap" });
  root.append(grid, tableBox);

  function renderTable(): void {
    tableBox.replaceChildren(h("table", { class: "runs", id: "compare-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), COLUMNS.filter((c) => c.key !== "progress" && c.key !== "worker").map((c) => h("th", { scope: "col", title: c.title, class: c.numeric ? "num" : "" }, c.label)))),
      h("tbody", {}, runs.map((r, i) => h("tr", { "data-run-id": r.id }, h("td", {}, h("span", { class: "swatch", style: `background:${seriesColor(i)}`, "aria-hidden": "true" })), COLUMNS.filter((c) => c.key !== "progress" && c.key !== "worker").map((c) => h("td", { class: c.numeric ? "num" : "", "data-col": c.key }, c.render(r, undefined, Date.now()))))))));
  }

  function draw(): void {
    redrawQueued = false;
    const series = runs.map((r) => metrics.get(r.id) ?? []);
    if (charts.length === 0) {
      // All boxes first, then one layout to measure them, then the charts (see LineChartOptions.width).
      const boxes = CHARTS.map((c) => h("div", { class: "chart", id: `chart-${c.key}` }));
      grid.append(...boxes);
      const widths = boxes.map((b) => b.clientWidth);
      for (const [i, c] of CHARTS.entries()) {
        const box = boxes[i]!;
        charts.push(new LineChart(box, {
          width: widths[i]!,
          title: c.title,
          xLabel: "epoch",
          yLabel: c.y,
          integerX: true,
          height: 240,
          threshold: c.key === "valAcc" ? runs[0]?.spec.threshold ?? null : null,
          series: runs.map((r, i) => ({ label: r.name ?? r.id.slice(0, 8), color: seriesColor(i), width: 1.25 })),
        }, overlayData(series, c.key)));
      }
    } else {
      CHARTS.forEach((c, i) => charts[i]!.setData(overlayData(series, c.key)));
    }
  }

  async function load(): Promise<void> {
    const bulk = options.metrics ?? (ids.length > 4
      ? api.getMetricsMany(ids, Math.max(1, ...ids.map((id) => preloaded.get(id)?.epochs ?? 60))).catch((e: Error) => {
        notify(`Cannot load metrics: ${e.message}`, "error");
        return new Map<string, EpochMetric[]>();
      })
      : null);
    const loaded = await Promise.all(ids.map(async (id) => {
      try {
        const [run, m] = await Promise.all([preloaded.get(id) ?? api.getRun(id), bulk ? bulk.then((b) => b.get(id) ?? []) : api.getMetrics(id)]);
        return { run, m };
      } catch (e) {
        notify(`Cannot load run ${id}: ${(e as Error).message}`, "error");
        return null;
      }
    }));
    if (disposed) return;
    for (const item of loaded) {
      if (!item) continue;
      runs.push(item.run);
      metrics.set(item.run.id, item.m);
    }
    renderTable();
    draw();
    options.onUpdate?.(runs);
    markRendered("compare", runs.reduce((n, r) => n + (metrics.get(r.id)?.length ?? 0), 0));
    if (runs.some((r) => r.state === "queued" || r.state === "running")) subscribe();
  }

  function subscribe(): void {
    const wanted = new Set(runs.map((r) => r.id));
    stream = new LiveStream({
      url: api.wsUrl(options.streamPath ?? "/v1/stream"),
      token,
      onMessage: (msg) => {
        if (!msg.runId || !wanted.has(msg.runId)) return;
        const run = runs.find((r) => r.id === msg.runId)!;
        if (msg.type === "epoch") {
          const list = upsertEpoch(metrics.get(run.id) ?? [], msg);
          metrics.set(run.id, list);
          run.summary = summarizeMetrics(list, run.spec.threshold, run.summary);
        } else if (msg.type === "state") {
          run.state = msg.state;
        } else return;
        if (!redrawQueued) {
          redrawQueued = true;
          requestAnimationFrame(() => { if (!disposed) { draw(); renderTable(); options.onUpdate?.(runs); } });
        }
      },
    });
  }

  void load();
  return () => {
    disposed = true;
    stream?.close();
    for (const c of charts) c.destroy();
  };
}
