import type uPlot from "uplot";
import { parseRunSpec, specStepsPerEpoch } from "../../../shared/run-spec.ts";
import { ApiError } from "../api-client.ts";
import type { StateMessage } from "../../../shared/stream-messages.ts";
import type { EpochMetric, Progress, Run } from "../api-types.ts";
import { isTerminal, toRunError } from "../api-types.ts";
import type { View } from "../app-context.ts";
import { LineChart } from "../charts/line-chart.ts";
import { scheduleSeries } from "../charts/schedule-series.ts";
import { h, replaceChildren } from "../dom.ts";
import { fixed, param, timestamp } from "../format.ts";
import { LiveStream } from "../live-stream.ts";
import { summarizeMetrics, upsertEpoch } from "../run-summary.ts";
import { markRendered } from "../render-mark.ts";
import { progressBar, stateBadge } from "./run-columns.ts";
import { formatIssues } from "../../../shared/issue.ts";

/**
 * One run: live loss/val_loss and acc/val_acc per epoch (threshold line, first passing epoch marked),
 * LR and weight decay per iteration from the schedule, the current epoch's progress, the spec,
 * attempts, errors, and cancel / retry.
 */
export const runView: View = (root, ctx, _params, id) => {
  if (!id) return () => {};
  let run: Run | null = null;
  let metrics: EpochMetric[] = [];
  let progress: Progress | undefined;
  let stream: LiveStream | null = null;
  let disposed = false;
  const streamErrors: string[] = [];
  /** Every state change of the run, replayed from seq 0: the attempts table is built from them. */
  const stateEvents: StateMessage[] = [];
  const charts: LineChart[] = [];

  const title = h("h2", {}, "Run");
  const badge = h("span", {});
  const cancelButton = h("button", { type: "button", id: "cancel-run", onclick: () => void cancel() }, "Cancel");
  const retryButton = h("button", { type: "button", id: "retry-run", onclick: () => void retry() }, "Retry");
  const compareLink = h("a", { href: `#/compare?ids=${encodeURIComponent(id)}` }, "Compare…");
  const liveStatus = h("span", { class: "live-status", id: "live-status" });
  const progressBox = h("section", { class: "panel progress-panel", "aria-label": "Progress" });
  const summaryBox = h("section", { class: "panel", "aria-label": "Summary" });
  const lossBox = h("div", { class: "chart", id: "chart-loss" });
  const accBox = h("div", { class: "chart", id: "chart-acc" });
  const lrBox = h("div", { class: "chart", id: "chart-lr" });
  const specBox = h("pre", { class: "spec", tabindex: "0", "aria-label": "Run spec" });
  const attemptsBox = h("div", {});
  const errorsBox = h("div", { id: "run-errors" });

  root.append(
    h("section", { class: "toolbar" }, title, badge, liveStatus, h("span", { class: "spacer" }), compareLink, cancelButton, retryButton),
    progressBox,
    summaryBox,
    h("section", { class: "charts", "aria-label": "Charts" }, lossBox, accBox, lrBox),
    h("section", { class: "details" },
      h("div", { class: "panel" }, h("h3", {}, "Spec"), specBox),
      h("div", { class: "panel" }, h("h3", {}, "Attempts"), attemptsBox, h("h3", {}, "Errors"), errorsBox)),
  );

  let lossChart: LineChart | null = null;
  let accChart: LineChart | null = null;

  function epochData(): { loss: uPlot.AlignedData; acc: uPlot.AlignedData } {
    const x = metrics.map((m) => m.epoch);
    return {
      loss: [x, metrics.map((m) => m.loss), metrics.map((m) => m.valLoss)],
      acc: [x, metrics.map((m) => m.acc), metrics.map((m) => m.valAcc)],
    };
  }

  function drawCharts(): void {
    if (!run) return;
    const data = epochData();
    if (!lossChart) {
      const [lossWidth, accWidth] = [lossBox.clientWidth, accBox.clientWidth];
      lossChart = new LineChart(lossBox, {
        width: lossWidth,
        title: "loss and val_loss per epoch",
        xLabel: "epoch",
        yLabel: "loss",
        integerX: true,
        series: [
          { label: "loss", color: "#c0392b", dash: [4, 3], points: true },
          { label: "val_loss", color: "#1f6fb2", points: true },
        ],
      }, data.loss);
      accChart = new LineChart(accBox, {
        width: accWidth,
        title: "acc and val_acc per epoch",
        xLabel: "epoch",
        yLabel: "accuracy",
        integerX: true,
        threshold: run.spec.threshold,
        series: [
          { label: "acc", color: "#c0392b", dash: [4, 3], points: true },
          { label: "val_acc", color: "#1f6fb2", points: true },
        ],
      }, data.acc);
      charts.push(lossChart, accChart);
    } else {
      lossChart.setData(data.loss);
      accChart!.setData(data.acc);
    }
    const s = summarizeMetrics(metrics, run.spec.threshold);
    accChart!.setMarker(s.thresholdEpoch === null ? null : { x: s.thresholdEpoch, y: s.accVal, label: `val_acc ≥ ${run.spec.threshold} at epoch ${s.thresholdEpoch}` });
    lossBox.setAttribute("data-points", String(metrics.length));
    accBox.setAttribute("data-points", String(metrics.length));
  }

  function drawSchedule(): void {
    if (!run) return;
    const parsed = parseRunSpec(run.spec);
    if (!parsed.ok) {
      lrBox.replaceChildren(h("p", { class: "error" }, `Cannot draw the schedule: ${formatIssues(parsed.issues)}`));
      return;
    }
    const spec = parsed.spec;
    const steps = specStepsPerEpoch(spec);
    const series = scheduleSeries(spec.schedule, steps, spec.wdSchedule ? { schedule: spec.wdSchedule } : { lambda: spec.optimizer.lambda });
    const chart = new LineChart(lrBox, {
      title: `LR and weight decay per iteration (${steps} iterations per epoch)`,
      xLabel: "iteration",
      yLabel: "LR",
      y2Label: spec.wdSchedule ? "WD (per step)" : "WD = LR·λ (per step)",
      series: [
        { label: "LR", color: "#6d28d9", width: 2 },
        { label: "WD", color: "#0f766e", scale: "y2", dash: [5, 3] },
      ],
    }, [series.iterations, series.lr, series.wd]);
    charts.push(chart);
  }

  function renderHeader(): void {
    if (!run) return;
    title.textContent = run.name ?? `Run ${run.id.slice(0, 8)}`;
    title.title = run.id;
    badge.replaceChildren(stateBadge(run.state));
    cancelButton.disabled = isTerminal(run.state);
    retryButton.disabled = !(run.state === "failed" || run.state === "cancelled");
    document.title = `${run.name ?? run.id.slice(0, 8)} · ResNet jobs`;
  }

  function renderProgress(): void {
    if (!run) return;
    const p = progress;
    const epochLine = run.state === "running" && p
      ? h("div", { class: "epoch-progress", id: "epoch-progress" },
        h("span", {}, `epoch ${p.epoch}/${run.epochs}: batch ${p.batch}/${p.batchesPerEpoch}`),
        h("div", { class: "bar", role: "progressbar", "aria-label": "Current epoch", "aria-valuemin": 0, "aria-valuemax": p.batchesPerEpoch, "aria-valuenow": p.batch }, h("div", { class: "fill fill-running", style: `width:${Math.round((100 * p.batch) / Math.max(1, p.batchesPerEpoch))}%` })),
        h("span", {}, [p.loss !== null ? `loss ${fixed(p.loss, 4)}` : "", p.acc !== null ? `acc ${fixed(p.acc, 4)}` : "", p.lr !== null ? `lr ${param(p.lr)}` : "", p.imagesPerSec !== null ? `${Math.round(p.imagesPerSec)} img/s` : ""].filter(Boolean).join(" · ")))
      : null;
    progressBox.replaceChildren(
      h("div", { class: "kv" },
        h("span", {}, "progress"), progressBar(run, p, Date.now()),
        h("span", {}, "worker"), h("span", {}, run.workerId ?? "—"),
        h("span", {}, "attempt"), h("span", {}, `${run.attempt}${run.maxAttempts ? ` of ${run.maxAttempts}` : ""}`),
        h("span", {}, "created"), h("span", {}, timestamp(run.createdAt)),
        h("span", {}, "started"), h("span", {}, timestamp(run.startedAt)),
        h("span", {}, "finished"), h("span", {}, timestamp(run.finishedAt))),
      ...(epochLine ? [epochLine] : []),
    );
  }

  function renderSummary(): void {
    if (!run) return;
    const s = summarizeMetrics(metrics, run.spec.threshold);
    const cells: [key: string, label: string, value: string][] = [
      ["thresholdEpoch", `epoch (val_acc ≥ ${run.spec.threshold})`, s.thresholdEpoch === null ? "—" : String(s.thresholdEpoch)],
      ["accVal", "acc_val", fixed(s.accVal, 5)],
      ["acc", "acc", fixed(s.acc, 4)],
      ["bestEpoch", "epo best", s.bestEpoch === null ? "—" : String(s.bestEpoch)],
      ["bestValAcc", "val acc best", fixed(s.bestValAcc, 5)],
      ["finalLoss", "final loss", fixed(s.finalLoss, 4)],
      ["finalValLoss", "final val loss", fixed(s.finalValLoss, 4)],
      // Set by the worker at the end of a run that validated on a split: the test set's accuracy.
      ["bestTestAcc", "test acc best", fixed(run.summary.bestTestAcc, 5)],
      ["finalTestAcc", "test acc final", fixed(run.summary.finalTestAcc, 5)],
      ["shift", "shift", param(run.spec.data.shift)],
      ["l2", "l2", param(run.spec.optimizer.l2)],
      ["lambda", "λ", param(run.spec.optimizer.lambda)],
      ["alpha", "α", param(run.spec.optimizer.alpha)],
      ["epochs", "epochs", `${s.epochsDone ?? 0}/${run.epochs}`],
    ];
    summaryBox.replaceChildren(
      h("table", { class: "summary", id: "run-summary" },
        h("thead", {}, h("tr", {}, cells.map(([, label]) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, h("tr", {}, cells.map(([key, , value]) => h("td", { "data-col": key }, value))))),
      h("p", {}, "schedule ", h("code", { class: "schedule" }, run.spec.schedule)),
      // A succeeded run's network (README "Trained models"): where to load it from, and how to save it.
      ...(run.state === "succeeded"
        ? [h("p", { id: "run-model" }, "trained model ", h("code", {}, `/v1/runs/${run.id}/model/model.json?weights=best|final`),
          " (tf.loadLayersModel with a read token; ", h("code", {}, `npm run export -- --run ${run.id} --out model/`), ")")]
        : []),
    );
  }

  function renderDetails(): void {
    if (!run) return;
    specBox.textContent = JSON.stringify(run.spec, null, 2);
    const attempts = attemptRows(stateEvents);
    replaceChildren(attemptsBox,
      h("p", {}, `${run.attempt} of at most ${run.maxAttempts} attempts started.`),
      attempts.length === 0 ? null : h("table", { id: "attempts" }, h("thead", {}, h("tr", {}, ["#", "worker", "outcome", "reason", "error"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, attempts.map((a) => h("tr", {}, h("td", {}, String(a.attempt)), h("td", {}, a.workerId ?? "—"), h("td", {}, a.outcome), h("td", {}, a.reason ?? ""), h("td", { class: a.error ? "error" : "" }, a.error ?? ""))))),
    );
    const runError = toRunError(run.error);
    const errors = [
      ...(runError ? [`${runError.code ? `${runError.code}: ` : ""}${runError.message}`] : []),
      ...attempts.filter((a) => a.error && a.error !== runError?.message).map((a) => `attempt ${a.attempt}: ${a.error}`),
      ...streamErrors,
    ];
    errorsBox.replaceChildren(errors.length === 0 ? h("p", {}, "None.") : h("ul", {}, errors.map((e) => h("li", { class: "error" }, e))));
  }

  function renderAll(): void {
    renderHeader();
    renderProgress();
    renderSummary();
    renderDetails();
    drawCharts();
  }

  async function load(): Promise<void> {
    try {
      // The run first: its lastSeq is where the stream resumes; epochs that land between the two
      // requests arrive twice and are merged by epoch number.
      run = await ctx.api.getRun(id!);
      metrics = await ctx.api.getMetrics(id!);
    } catch (e) {
      root.replaceChildren(h("p", { class: "error" }, e instanceof ApiError && e.status === 404 ? `Run ${id} does not exist.` : `Cannot load run: ${(e as Error).message}`), h("a", { href: "#/" }, "Back to the runs"));
      return;
    }
    if (disposed) return;
    renderAll();
    drawSchedule();
    markRendered("run", metrics.length);
    // From seq 0 even for a finished run: the replay of its state changes is its attempt history, and
    // the server closes a finished run's stream (1000) right after the replay.
    subscribe(0);
  }

  function subscribe(after: number): void {
    stream = new LiveStream({
      url: ctx.api.wsUrl(`/v1/runs/${encodeURIComponent(id!)}/stream`),
      token: ctx.token,
      resume: true,
      onStatus: (s, detail) => { liveStatus.textContent = s === "live" ? "● live" : s === "closed" ? "" : `○ ${s}${detail ? ` (${detail})` : ""}`; liveStatus.className = `live-status ${s}`; },
      onMessage: (ev) => {
        if (!run || disposed) return;
        if (ev.type === "epoch") {
          upsertEpoch(metrics, ev);
          run.summary = summarizeMetrics(metrics, run.spec.threshold, run.summary);
          renderSummary();
          renderProgress();
          drawCharts();
        } else if (ev.type === "progress") {
          progress = { ...ev, receivedAt: Date.now() };
          renderProgress();
        } else if (ev.type === "state") {
          stateEvents.push(ev);
          const wasTerminal = isTerminal(run.state);
          run.state = ev.state;
          if (ev.workerId !== undefined) run.workerId = ev.workerId;
          run.attempt = Math.max(run.attempt, ev.attempt);
          if (ev.error) run.error = ev.error;
          if (isTerminal(ev.state) && !wasTerminal) {
            progress = undefined;
            // Final fields (finishedAt, attempts, error) come with the run itself.
            void ctx.api.getRun(id!).then((r) => { if (!disposed) { run = r; renderAll(); } }).catch(() => {});
          }
          renderHeader();
          renderProgress();
          renderDetails();
        } else if (ev.type === "error") {
          streamErrors.push(`stream: ${ev.code}: ${ev.message}`);
          renderDetails();
        }
      },
    }, after);
  }

  async function cancel(): Promise<void> {
    cancelButton.disabled = true;
    try {
      const r = await ctx.api.cancelRun(id!);
      ctx.notify("Cancel requested.");
      run = r && r.id ? r : await ctx.api.getRun(id!);
      if (!disposed) renderAll();
    } catch (e) {
      ctx.notify(`Cannot cancel: ${(e as Error).message}`, "error");
      cancelButton.disabled = false;
    }
  }

  async function retry(): Promise<void> {
    retryButton.disabled = true;
    try {
      const r = await ctx.api.retryRun(id!);
      ctx.notify("Retried as a new run.");
      ctx.navigate(`#/runs/${r.id}`);
    } catch (e) {
      ctx.notify(`Cannot retry: ${(e as Error).message}`, "error");
      retryButton.disabled = false;
    }
  }

  void load();
  const tick = setInterval(() => run?.state === "running" && renderProgress(), 5000);
  return () => {
    disposed = true;
    clearInterval(tick);
    stream?.close();
    for (const c of charts) c.destroy();
  };
};


interface AttemptRow {
  attempt: number;
  workerId: string | null;
  outcome: string;
  reason: string | null;
  error: string | null;
}

/** One row per attempt from the run's state changes: who ran it and how it ended. */
function attemptRows(events: readonly StateMessage[]): AttemptRow[] {
  const rows = new Map<number, AttemptRow>();
  for (const e of events) {
    if (e.attempt < 1) continue;
    const row = rows.get(e.attempt) ?? { attempt: e.attempt, workerId: null, outcome: "", reason: null, error: null };
    if (e.workerId) row.workerId = e.workerId;
    row.outcome = e.state === "queued" ? "requeued" : e.state;
    if (e.reason) row.reason = e.reason;
    if (e.error) row.error = `${e.error.code}: ${e.error.message}`;
    rows.set(e.attempt, row);
  }
  return [...rows.values()].sort((a, b) => a.attempt - b.attempt);
}
