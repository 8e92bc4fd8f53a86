import type { Run } from "../api-types.ts";
import type { View } from "../app-context.ts";
import { h } from "../dom.ts";
import { mountComparison } from "./compare-view.ts";
import { HEAT_METRICS, type HeatMetric, heatMap, SWEEP_PARAMS, sweptParams } from "./heat-map.ts";

/** A sweep: heat map of a summary figure over two swept parameters, and all its runs overlaid. */
export const sweepView: View = (root, ctx, params, id) => {
  if (!id) return () => {};
  let unmountCompare: (() => void) | null = null;
  let disposed = false;
  let runs: Run[] = [];
  const xSelect = h("select", { id: "heat-x" });
  const ySelect = h("select", { id: "heat-y" });
  const metricSelect = h("select", { id: "heat-metric" }, HEAT_METRICS.map((m) => h("option", { value: m.key }, m.label)));
  metricSelect.value = params.get("metric") ?? "thresholdEpoch";
  const heatBox = h("div", { class: "heat-wrap" });
  const title = h("h2", {}, `Sweep ${id.slice(0, 8)}`);
  const compareBox = h("div", {});
  root.append(
    h("section", { class: "toolbar" }, title, h("span", { class: "spacer" }), h("a", { href: `#/?sweep=${encodeURIComponent(id)}` }, "Runs of this sweep")),
    h("section", { class: "panel" },
      h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
        h("label", { for: "heat-metric" }, "Show"), metricSelect,
        h("label", { for: "heat-x" }, "across"), xSelect,
        h("label", { for: "heat-y" }, "down"), ySelect),
      heatBox),
    compareBox,
  );
  for (const s of [xSelect, ySelect, metricSelect]) s.addEventListener("change", () => drawHeat());

  function drawHeat(): void {
    if (runs.length === 0) return;
    const swept = sweptParams(runs);
    const axes = swept.length > 0 ? swept : SWEEP_PARAMS.slice(0, 1);
    if (xSelect.childElementCount !== axes.length) {
      const prefer = (p: string) => axes.find((a) => a.path === p)?.path;
      const x0 = params.get("x") ?? prefer("optimizer.lambda") ?? axes[0]!.path;
      const y0 = params.get("y") ?? prefer("optimizer.alpha") ?? axes.find((a) => a.path !== x0)?.path ?? "";
      xSelect.replaceChildren(...axes.map((a) => h("option", { value: a.path }, a.label)));
      ySelect.replaceChildren(h("option", { value: "" }, "(none)"), ...axes.map((a) => h("option", { value: a.path }, a.label)));
      xSelect.value = x0;
      ySelect.value = y0 === x0 ? "" : y0;
    }
    heatBox.replaceChildren(heatMap(runs, xSelect.value, ySelect.value || null, metricSelect.value as HeatMetric));
  }

  void (async () => {
    try {
      // The sweep's epochs are fetched by sweep id at the same time as the sweep itself.
      const metrics = ctx.api.getMetricsMany([], 60, id);
      const sweep = await ctx.api.getSweep(id);
      if (disposed) return;
      title.textContent = sweep.name ? `Sweep ${sweep.name}` : `Sweep ${id.slice(0, 8)}`;
      runs = sweep.runs.length > 0 ? sweep.runs : await ctx.api.listRuns({ sweep: id });
      if (disposed) return;
      drawHeat();
      unmountCompare = mountComparison(compareBox, ctx.api, ctx.token, runs.map((r) => r.id), ctx.notify, {
        streamPath: `/v1/stream?sweep=${encodeURIComponent(id)}`,
        preloaded: runs,
        metrics: metrics.then(async (m) => {
          // Runs the sweep query did not cover (a failed query): one by one.
          const missing = runs.filter((r) => !m.has(r.id) && (r.summary.epochsDone ?? 0) > 0);
          return missing.length === 0 ? m : new Map([...m, ...await ctx.api.getMetricsMany(missing.map((r) => r.id), Math.max(...missing.map((r) => r.epochs)))]);
        }),
        onUpdate: (updated) => { runs = updated; drawHeat(); },
      });
    } catch (e) {
      heatBox.replaceChildren(h("p", { class: "error" }, `Cannot load sweep: ${(e as Error).message}`));
    }
  })();
  return () => {
    disposed = true;
    unmountCompare?.();
  };
};
