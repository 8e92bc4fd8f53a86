import type { Progress, Run } from "../api-types.ts";
import { h } from "../dom.ts";
import { duration, fixed, param } from "../format.ts";
import { runProgress } from "../run-progress.ts";

/** One column of the runs table: the seed's columns plus state, progress and worker. */
export interface Column {
  key: string;
  label: string;
  title: string;
  numeric: boolean;
  sortValue: (run: Run, progress: Progress | undefined) => number | string | null;
  render: (run: Run, progress: Progress | undefined, now: number) => Node | string;
}

export function stateBadge(state: string): HTMLElement {
  return h("span", { class: `state state-${state}` }, state);
}

export function progressBar(run: Run, progress: Progress | undefined, now: number): HTMLElement {
  const p = runProgress(run, progress, now);
  const pct = Math.round(p.fraction * 100);
  const eta = run.state === "running" && p.etaSeconds !== null ? `ETA ${duration(p.etaSeconds)}` : "";
  return h(
    "div",
    { class: "progress" },
    h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct, "aria-label": `${p.label} epochs` }, h("div", { class: `fill fill-${run.state}`, style: `width:${pct}%` })),
    h("span", { class: "progress-text" }, `${p.label}${eta ? ` · ${eta}` : ""}`),
  );
}

export const COLUMNS: Column[] = [
  {
    key: "name",
    label: "run",
    title: "Run name (the seed's #)",
    numeric: false,
    sortValue: (r) => r.name ?? r.id,
    render: (r) => h("a", { href: `#/runs/${r.id}` }, r.name ?? r.id.slice(0, 8)),
  },
  { key: "state", label: "state", title: "State", numeric: false, sortValue: (r) => r.state, render: (r) => stateBadge(r.state) },
  {
    key: "progress",
    label: "progress",
    title: "Epochs done, and time left",
    numeric: false,
    sortValue: (r, p) => runProgress(r, p, Date.now()).fraction,
    render: (r, p, now) => progressBar(r, p, now),
  },
  { key: "worker", label: "worker", title: "Worker running it", numeric: false, sortValue: (r) => r.workerId, render: (r) => r.workerId ?? "—" },
  {
    key: "thresholdEpoch",
    label: "epoch",
    title: "First epoch whose val_acc reaches the threshold",
    numeric: true,
    sortValue: (r) => r.summary.thresholdEpoch,
    render: (r) => (r.summary.thresholdEpoch === null ? "—" : String(r.summary.thresholdEpoch)),
  },
  { key: "accVal", label: "acc_val", title: "val_acc at the threshold epoch", numeric: true, sortValue: (r) => r.summary.accVal, render: (r) => fixed(r.summary.accVal, 5) },
  { key: "acc", label: "acc", title: "Training acc at the threshold epoch", numeric: true, sortValue: (r) => r.summary.acc, render: (r) => fixed(r.summary.acc, 4) },
  { key: "bestEpoch", label: "epo best", title: "Epoch of the best val_acc", numeric: true, sortValue: (r) => r.summary.bestEpoch, render: (r) => (r.summary.bestEpoch === null ? "—" : String(r.summary.bestEpoch)) },
  { key: "bestValAcc", label: "val acc best", title: "Best val_acc", numeric: true, sortValue: (r) => r.summary.bestValAcc, render: (r) => fixed(r.summary.bestValAcc, 5) },
  { key: "finalLoss", label: "final loss", title: "Loss of the last epoch", numeric: true, sortValue: (r) => r.summary.finalLoss, render: (r) => fixed(r.summary.finalLoss, 4) },
  { key: "finalValLoss", label: "final val loss", title: "val_loss of the last epoch", numeric: true, sortValue: (r) => r.summary.finalValLoss, render: (r) => fixed(r.summary.finalValLoss, 4) },
  { key: "bestTestAcc", label: "test acc", title: "Test-set accuracy of the best epoch's weights (runs validated on a split, once succeeded)", numeric: true, sortValue: (r) => r.summary.bestTestAcc, render: (r) => fixed(r.summary.bestTestAcc, 5) },
  { key: "shift", label: "shift", title: "Random shift (data.shift)", numeric: true, sortValue: (r) => r.spec.data.shift, render: (r) => param(r.spec.data.shift) },
  { key: "l2", label: "l2", title: "L2 factor (optimizer.l2)", numeric: true, sortValue: (r) => r.spec.optimizer.l2, render: (r) => param(r.spec.optimizer.l2) },
  { key: "lambda", label: "λ", title: "Weight decay λ (optimizer.lambda)", numeric: true, sortValue: (r) => r.spec.optimizer.lambda, render: (r) => param(r.spec.optimizer.lambda) },
  { key: "alpha", label: "α", title: "Initial / peak LR α (optimizer.alpha)", numeric: true, sortValue: (r) => r.spec.optimizer.alpha, render: (r) => param(r.spec.optimizer.alpha) },
  { key: "schedule", label: "schedule", title: "LR schedule", numeric: false, sortValue: (r) => r.spec.schedule, render: (r) => h("code", { class: "schedule" }, r.spec.schedule) },
];

/** Compares two sort values: missing values last in either direction. */
export function compareValues(a: number | string | null, b: number | string | null, dir: 1 | -1): number {
  if (a === null && b === null) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return (a - b) * dir;
  return String(a).localeCompare(String(b), undefined, { numeric: true }) * dir;
}
