import { parseRunSpec, specStepsPerEpoch } from "../../../shared/run-spec.ts";
import type { Issue } from "../../../shared/issue.ts";
import { formatScheduleNumber, lastEpoch, parseSchedule, peakValue, scheduleValueAt, ScheduleSyntaxError } from "../../../shared/schedule/mod.ts";
import type { Schedule } from "../../../shared/schedule/mod.ts";
import { ApiError } from "../api-client.ts";
import type { View } from "../app-context.ts";
import { LineChart, seriesColor } from "../charts/line-chart.ts";
import { h } from "../dom.ts";
import { FIELDS, type FieldDef, type FormValues, planForm } from "../spec-form.ts";

const PREVIEW_POINTS = 1200;

/**
 * The submit form: a run spec field by field, validated as typed with the API's own schema
 * (shared/run-spec.ts, so the messages are the API's), a live plot of the schedule(s) with the coupled
 * weight decay, and sweeps by listing several values in a field.
 */
export const submitView: View = (root, ctx) => {
  const inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>();
  const fieldErrors = new Map<string, HTMLElement>();
  const rows = new Map<string, HTMLElement>();
  let idempotencyKey: string | null = null;
  let preview: LineChart | null = null;
  let previewSeriesCount = -1;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let disposed = false;

  const fieldId = (path: string) => `spec-${path.replace(/\./g, "-")}`;

  function control(def: FieldDef): HTMLElement {
    const id = fieldId(def.path);
    const describedBy = `${id}-error${def.help ? ` ${id}-help` : ""}`;
    let el: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
    if (def.kind === "schedule") el = h("textarea", { id, name: def.path, rows: 3, spellcheck: "false", placeholder: def.placeholder, "aria-describedby": describedBy });
    else if (def.kind === "select") el = h("select", { id, name: def.path, "aria-describedby": describedBy }, (def.options ?? []).map((o) => h("option", { value: o }, o)));
    else if (def.kind === "checkbox") el = h("input", { id, name: def.path, type: "checkbox", checked: true, "aria-describedby": describedBy });
    else el = h("input", { id, name: def.path, type: "text", inputmode: def.kind === "number" && !def.list ? "decimal" : undefined, placeholder: def.placeholder, autocomplete: "off", "aria-describedby": describedBy });
    inputs.set(def.path, el);
    el.addEventListener("input", onChange);
    el.addEventListener("change", onChange);
    const err = h("div", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
    fieldErrors.set(def.path, err);
    const row = h("div", { class: `field field-${def.kind}`, "data-path": def.path },
      def.kind === "checkbox" ? h("label", { for: id }, el, ` ${def.label}`) : [h("label", { for: id }, def.label, def.list && def.kind !== "schedule" ? h("span", { class: "hint" }, " (list values to sweep)") : null), el],
      def.help ? h("div", { class: "hint", id: `${id}-help` }, def.help) : null,
      err);
    rows.set(def.path, row);
    return row;
  }

  const alphaOut = h("output", { id: "alpha-out", for: fieldId("schedule") }, "—");
  const scheduleError = h("pre", { class: "schedule-error", id: "schedule-error", hidden: true });
  const previewBox = h("div", { class: "chart", id: "schedule-preview" });
  const planOut = h("p", { id: "plan", "aria-live": "polite" });
  const generalErrors = h("ul", { class: "errors", id: "form-errors", "aria-live": "polite" });
  const repeatInput = h("input", { id: "sweep-repeat", type: "number", min: 1, max: 100, value: 1 });
  repeatInput.addEventListener("input", onChange);
  const submitButton = h("button", { type: "submit", class: "primary", id: "submit-run" }, "Submit run");

  const form = h("form", { class: "submit-form", id: "submit-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); void submit(); } },
    h("div", { class: "fields" },
      FIELDS.map(control),
      h("div", { class: "field" }, h("span", { class: "label" }, "α (peak of the schedule)"), alphaOut),
      h("div", { class: "field" }, h("label", { for: "sweep-repeat" }, "Repeat each (sweep seeds)"), repeatInput)),
    h("div", { class: "preview" }, h("h3", {}, "Schedule preview"), scheduleError, previewBox),
    h("div", { class: "actions" }, planOut, generalErrors, submitButton),
  );
  root.append(h("section", { class: "toolbar" }, h("h2", {}, "Submit a run or a sweep")), form);

  // Seed the schedule with Table 3's run 17 so the preview shows something meaningful at once.
  (inputs.get("schedule") as HTMLTextAreaElement).value = "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]";

  function values(): FormValues {
    const out: FormValues = {};
    for (const [path, el] of inputs) out[path] = el instanceof HTMLInputElement && el.type === "checkbox" ? String(el.checked) : el.value;
    return out;
  }

  function onChange(): void {
    idempotencyKey = null;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => !disposed && validate(), 120);
  }

  function showIssues(issues: Issue[]): void {
    for (const el of fieldErrors.values()) el.textContent = "";
    for (const el of inputs.values()) el.removeAttribute("aria-invalid");
    const general: string[] = [];
    const seen = new Set<string>();
    for (const issue of issues) {
      const key = `${issue.path}\u0000${issue.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // The nearest field for a nested path (optimizer.alpha has no field: it is the schedule's peak).
      let path = issue.path;
      while (path && !fieldErrors.has(path)) path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
      if (issue.path === "optimizer.alpha") path = "schedule";
      const target = fieldErrors.get(path);
      if (target) {
        target.textContent = target.textContent ? `${target.textContent}\n${issue.message}` : issue.message;
        inputs.get(path)?.setAttribute("aria-invalid", "true");
      } else general.push(issue.path ? `${issue.path}: ${issue.message}` : issue.message);
    }
    generalErrors.replaceChildren(...general.map((g) => h("li", { class: "error" }, g)));
  }

  function validate(): { ok: boolean; plan: ReturnType<typeof planForm> } {
    const dataset = (inputs.get("data.dataset") as HTMLSelectElement).value;
    for (const def of FIELDS) if (def.onlyFor) rows.get(def.path)!.hidden = def.onlyFor !== dataset;
    const plan = planForm(values());
    const repeat = Math.max(1, Number(repeatInput.value) || 1);
    const issues: Issue[] = [];
    for (const { spec } of plan.specs) {
      const r = parseRunSpec(spec);
      if (!r.ok) issues.push(...r.issues);
      if (issues.length > 50) break;
    }
    if (plan.count * repeat > 1000) issues.push({ path: "", message: `expected at most 1000 runs in a sweep, found ${plan.count} × ${repeat} = ${plan.count * repeat}` });
    showIssues(issues);
    const runs = plan.count * repeat;
    planOut.textContent = runs === 1 ? "1 run" : `a sweep of ${runs} runs (${Object.entries(plan.grid).map(([k, v]) => `${k} × ${v.length}`).join(", ")}${repeat > 1 ? `, repeat ${repeat}` : ""})`;
    submitButton.textContent = runs === 1 ? "Submit run" : `Submit sweep (${runs} runs)`;
    drawPreview(plan);
    return { ok: issues.length === 0, plan };
  }

  function drawPreview(plan: ReturnType<typeof planForm>): void {
    const texts = ((inputs.get("schedule") as HTMLTextAreaElement).value).split(/\n+/).map((l) => l.trim()).filter(Boolean);
    const schedules: { text: string; s: Schedule }[] = [];
    const problems: string[] = [];
    for (const text of texts) {
      try {
        schedules.push({ text, s: parseSchedule(text) });
      } catch (e) {
        if (e instanceof ScheduleSyntaxError) problems.push(`${text}\n${" ".repeat(e.offset)}^ ${e.message}`);
        else problems.push(`${text}\n${(e as Error).message}`);
      }
    }
    scheduleError.hidden = problems.length === 0;
    scheduleError.textContent = problems.join("\n\n");
    alphaOut.textContent = schedules.length ? schedules.map((x) => formatScheduleNumber(peakValue(x.s))).join(", ") : "—";
    if (schedules.length === 0) return;
    // The first valid spec sets steps per epoch and λ for the weight-decay curve.
    const first = plan.specs.map((p) => parseRunSpec(p.spec)).find((r) => r.ok);
    const steps = first?.ok ? specStepsPerEpoch(first.spec) : 625;
    const lambda = first?.ok ? first.spec.optimizer.lambda : 0.15;
    const maxEpoch = Math.max(...schedules.map((x) => lastEpoch(x.s)));
    const totalIt = maxEpoch * steps;
    const its = new Set<number>();
    for (let k = 0; k <= PREVIEW_POINTS; k++) its.add(Math.round((k * totalIt) / PREVIEW_POINTS));
    for (const x of schedules) for (const knot of x.s.knots) its.add(knot.epoch * steps);
    const xs = [...its].sort((a, b) => a - b);
    const lrs = schedules.map((x) => xs.map((i) => (i / steps <= lastEpoch(x.s) ? scheduleValueAt(x.s, i / steps) : null)));
    const wd = lrs[0]!.map((v) => (v === null ? null : v * lambda));
    const data = [xs, ...lrs, wd] as [number[], ...(number | null)[][]];
    if (!preview || previewSeriesCount !== schedules.length) {
      preview?.destroy();
      previewBox.replaceChildren();
      preview = new LineChart(previewBox, {
        title: `LR per iteration (${steps} iterations per epoch)`,
        xLabel: "iteration",
        yLabel: "LR",
        y2Label: `WD = LR·λ (λ = ${lambda})`,
        height: 240,
        series: [
          ...schedules.map((x, i) => ({ label: schedules.length > 1 ? `LR ${i + 1}` : "LR", color: i === 0 ? "#6d28d9" : seriesColor(i + 3), width: 2 })),
          { label: "WD", color: "#0f766e", scale: "y2" as const, dash: [5, 3] },
        ],
      }, data);
      previewSeriesCount = schedules.length;
    } else preview.setData(data);
    previewBox.setAttribute("data-schedules", String(schedules.length));
  }

  async function submit(): Promise<void> {
    const { ok, plan } = validate();
    if (!ok) {
      const first = form.querySelector<HTMLElement>("[aria-invalid=true]");
      first?.focus();
      ctx.notify("Please fix the highlighted fields.", "error");
      return;
    }
    const repeat = Math.max(1, Number(repeatInput.value) || 1);
    idempotencyKey ??= crypto.randomUUID();
    submitButton.disabled = true;
    try {
      if (plan.count === 1 && repeat === 1) {
        const run = await ctx.api.createRun(plan.baseSpec, idempotencyKey);
        ctx.notify(`Run ${run.name ?? run.id.slice(0, 8)} queued.`);
        ctx.navigate(`#/runs/${run.id}`);
      } else {
        const name = typeof plan.baseSpec.name === "string" ? plan.baseSpec.name : undefined;
        const sweep = await ctx.api.createSweep({ ...(name ? { name } : {}), base: plan.baseSpec, grid: plan.grid, ...(repeat > 1 ? { repeat } : {}) }, idempotencyKey);
        ctx.notify(`Sweep of ${plan.count * repeat} runs queued.`);
        ctx.navigate(sweep.id ? `#/sweeps/${sweep.id}` : "#/");
      }
    } catch (e) {
      if (e instanceof ApiError && e.issues.length > 0) {
        // A sweep's issues may sit under the base spec or an expanded run: map them to the form's fields.
        showIssues(e.issues.map((i) => ({ path: i.path.replace(/^(base|spec)\./, "").replace(/^(runs|specs)\.\d+\./, ""), message: i.message })));
      }
      ctx.notify(`Not submitted: ${(e as Error).message}`, "error");
    } finally {
      submitButton.disabled = false;
    }
  }

  validate();
  return () => {
    disposed = true;
    if (timer) clearTimeout(timer);
    preview?.destroy();
  };
};
