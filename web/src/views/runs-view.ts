import type { Progress, Run, RunFilter, RunState } from "../api-types.ts";
import { RUN_STATES } from "../api-types.ts";
import type { View } from "../app-context.ts";
import { h } from "../dom.ts";
import { LiveStream } from "../live-stream.ts";
import { applyEpoch } from "../run-summary.ts";
import { markRendered } from "../render-mark.ts";
import { COLUMNS, compareValues } from "./run-columns.ts";

/**
 * The runs table: the seed's columns plus state, progress and worker; sortable, filterable by state,
 * sweep, tag and name prefix (kept in the URL), rows selectable for comparison, live over
 * `/v1/stream` (optionally for one sweep).
 */
export const runsView: View = (root, ctx, params) => {
  const filter: RunFilter = {
    state: (params.get("state") ?? "") as RunState | "",
    sweep: params.get("sweep") ?? "",
    tag: params.get("tag") ?? "",
    namePrefix: params.get("namePrefix") ?? "",
  };
  let sortKey = params.get("sort") ?? "created";
  let sortDir: 1 | -1 = params.get("dir") === "asc" ? 1 : -1;
  const runs = new Map<string, Run>();
  const order = new Map<string, number>();
  const progress = new Map<string, Progress>();
  const selected = new Set<string>();
  let stream: LiveStream | null = null;
  let disposed = false;
  let renderQueued = false;
  let lastRender = 0;
  let pendingFetch = new Set<string>();
  let fetchTimer: ReturnType<typeof setTimeout> | null = null;

  // ---- filter bar
  const stateSelect = h("select", { id: "f-state", name: "state" }, h("option", { value: "" }, "any"), RUN_STATES.map((s) => h("option", { value: s }, s)));
  stateSelect.value = filter.state ?? "";
  const sweepInput = h("input", { id: "f-sweep", name: "sweep", value: filter.sweep ?? "", placeholder: "sweep id", list: "sweep-ids", size: 12 });
  const sweepList = h("datalist", { id: "sweep-ids" });
  const tagInput = h("input", { id: "f-tag", name: "tag", value: filter.tag ?? "", placeholder: "tag", size: 10 });
  const nameInput = h("input", { id: "f-name", name: "namePrefix", value: filter.namePrefix ?? "", placeholder: "name starts with", size: 14 });
  const count = h("span", { class: "count", "aria-live": "polite" });
  const compareButton = h("button", { type: "button", id: "compare-selected", disabled: true, onclick: () => ctx.navigate(`#/compare?ids=${[...selected].join(",")}`) }, "Compare selected");
  const sweepLink = h("a", { id: "sweep-link", hidden: true }, "Sweep view");
  const liveStatus = h("span", { class: "live-status", id: "live-status" }, "");
  const filterForm = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter runs", onsubmit: (e) => { e.preventDefault(); applyFilter(); } },
    h("label", { for: "f-state" }, "State"), stateSelect,
    h("label", { for: "f-sweep" }, "Sweep"), sweepInput, sweepList,
    h("label", { for: "f-tag" }, "Tag"), tagInput,
    h("label", { for: "f-name" }, "Name"), nameInput,
    h("button", { type: "submit" }, "Filter"),
    h("button", { type: "button", class: "link", onclick: () => { stateSelect.value = ""; sweepInput.value = ""; tagInput.value = ""; nameInput.value = ""; applyFilter(); } }, "Clear"),
  );
  stateSelect.addEventListener("change", () => applyFilter());

  // ---- table
  const headRow = h("tr", {});
  const selectAll = h("input", { type: "checkbox", "aria-label": "Select all shown runs", onchange: () => { for (const r of visible()) selectAll.checked ? selected.add(r.id) : selected.delete(r.id); queueRender(true); } });
  const tbody = h("tbody", {});
  const table = h("table", { class: "runs", id: "runs-table" }, h("caption", { class: "sr-only" }, "Runs; column headers sort"), h("thead", {}, headRow), tbody);
  const empty = h("p", { class: "empty", hidden: true }, "No runs match. ", h("a", { href: "#/submit" }, "Submit one."));

  root.append(
    h("section", { class: "toolbar" }, h("h2", {}, "Runs"), count, liveStatus, h("span", { class: "spacer" }), sweepLink, compareButton, h("a", { class: "button", href: "#/submit" }, "New run")),
    filterForm,
    h("div", { class: "table-wrap" }, table),
    empty,
  );

  function renderHead(): void {
    headRow.replaceChildren(
      h("th", { scope: "col", class: "select" }, selectAll),
      ...COLUMNS.map((c) => {
        const active = c.key === sortKey;
        const ariaSort = active ? (sortDir === 1 ? "ascending" : "descending") : "none";
        return h(
          "th",
          { scope: "col", "aria-sort": ariaSort, class: c.numeric ? "num" : "" },
          h("button", { type: "button", class: "sort", title: `${c.title} — sort`, "data-sort": c.key, onclick: () => { sortDir = sortKey === c.key ? (sortDir === 1 ? -1 : 1) : c.numeric ? 1 : 1; sortKey = c.key; writeUrl(); renderHead(); queueRender(true); } }, c.label, active ? (sortDir === 1 ? " ▲" : " ▼") : ""),
        );
      }),
    );
  }

  function visible(): Run[] {
    const list = [...runs.values()].filter(matches);
    const col = COLUMNS.find((c) => c.key === sortKey);
    if (col) list.sort((a, b) => compareValues(col.sortValue(a, progress.get(a.id)), col.sortValue(b, progress.get(b.id)), sortDir) || (order.get(a.id)! - order.get(b.id)!));
    else list.sort((a, b) => compareValues(a.createdAt, b.createdAt, sortDir) || (order.get(a.id)! - order.get(b.id)!));
    return list;
  }

  function matches(r: Run): boolean {
    return (!filter.state || r.state === filter.state) && (!filter.sweep || r.sweepId === filter.sweep) && (!filter.tag || r.tags.includes(filter.tag)) && (!filter.namePrefix || (r.name ?? "").startsWith(filter.namePrefix));
  }

  function render(): void {
    renderQueued = false;
    lastRender = performance.now();
    const now = Date.now();
    const list = visible();
    const rows = list.map((r) => {
      const p = progress.get(r.id);
      const box = h("input", { type: "checkbox", "aria-label": `Select ${r.name ?? r.id} for comparison`, checked: selected.has(r.id), onchange: (e) => { (e.target as HTMLInputElement).checked ? selected.add(r.id) : selected.delete(r.id); updateSelection(); } });
      return h(
        "tr",
        { "data-run-id": r.id, "data-state": r.state, class: selected.has(r.id) ? "selected" : "" },
        h("td", { class: "select" }, box),
        ...COLUMNS.map((c) => h("td", { "data-col": c.key, class: c.numeric ? "num" : "" }, c.render(r, p, now))),
      );
    });
    tbody.replaceChildren(...rows);
    empty.hidden = list.length > 0;
    count.textContent = `${list.length} run${list.length === 1 ? "" : "s"}${list.length !== runs.size ? ` of ${runs.size}` : ""}`;
    const sweeps = [...new Set([...runs.values()].map((r) => r.sweepId).filter((s): s is string => !!s))];
    if (sweepList.childElementCount !== sweeps.length) sweepList.replaceChildren(...sweeps.map((s) => h("option", { value: s })));
    updateSelection();
  }

  function updateSelection(): void {
    for (const id of selected) if (!runs.has(id)) selected.delete(id);
    compareButton.disabled = selected.size < 1;
    compareButton.textContent = `Compare selected (${selected.size})`;
    for (const tr of tbody.querySelectorAll("tr")) tr.classList.toggle("selected", selected.has(tr.getAttribute("data-run-id") ?? ""));
  }

  /** Coalesces bursts of live messages: at most one re-render per 250 ms, none while hidden. */
  function queueRender(now = false): void {
    if (disposed || renderQueued) return;
    renderQueued = true;
    const wait = now ? 0 : Math.max(0, 250 - (performance.now() - lastRender));
    setTimeout(() => requestAnimationFrame(() => !disposed && render()), wait);
  }

  function writeUrl(): void {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v) q.set(k, String(v));
    if (sortKey !== "created") q.set("sort", sortKey);
    if (sortDir === 1 && sortKey !== "created") q.set("dir", "asc");
    history.replaceState(null, "", `#/${q.size ? `?${q}` : ""}`);
  }

  function applyFilter(): void {
    const before = filter.sweep;
    filter.state = stateSelect.value as RunState | "";
    filter.sweep = sweepInput.value.trim();
    filter.tag = tagInput.value.trim();
    filter.namePrefix = nameInput.value.trim();
    writeUrl();
    void load(before !== filter.sweep);
  }

  async function load(resubscribe: boolean): Promise<void> {
    sweepLink.hidden = !filter.sweep;
    if (filter.sweep) sweepLink.setAttribute("href", `#/sweeps/${encodeURIComponent(filter.sweep)}`);
    try {
      const list = await ctx.api.listRuns(filter);
      if (disposed) return;
      runs.clear();
      order.clear();
      list.forEach((r, i) => { runs.set(r.id, r); order.set(r.id, i); });
      render();
      markRendered("runs", list.length);
    } catch (e) {
      ctx.notify(`Cannot load runs: ${(e as Error).message}`, "error");
    }
    if (resubscribe || !stream) subscribe();
  }

  function subscribe(): void {
    stream?.close();
    const path = filter.sweep ? `/v1/stream?sweep=${encodeURIComponent(filter.sweep)}` : "/v1/stream";
    stream = new LiveStream({
      url: ctx.api.wsUrl(path),
      token: ctx.token,
      onStatus: (s, detail) => { liveStatus.textContent = s === "live" ? "● live" : s === "closed" ? "" : `○ ${s}${detail ? ` (${detail})` : ""}`; liveStatus.className = `live-status ${s}`; },
      // Missed progress has no seq to resume from, and new runs may have appeared: reload the list.
      onReconnect: () => void load(false),
      onMessage: (msg) => {
        if (msg.type === "error" || !msg.runId) return;
        const run = runs.get(msg.runId);
        if (!run) {
          fetchLater(msg.runId);
          return;
        }
        if (msg.type === "state") {
          run.state = msg.state;
          run.attempt = msg.attempt;
          if (msg.workerId !== undefined) run.workerId = msg.workerId;
          if (msg.state === "running" && !run.startedAt) run.startedAt = new Date().toISOString();
          if (msg.error) run.error = msg.error;
          if (msg.state !== "running") progress.delete(run.id);
        } else if (msg.type === "epoch") {
          run.summary = applyEpoch(run.summary, msg, run.spec.threshold);
        } else if (msg.type === "progress") {
          progress.set(run.id, { ...msg, receivedAt: Date.now() });
        }
        queueRender();
      },
    });
  }

  /** A run the page has not seen (submitted elsewhere): fetch it, a few at a time. */
  function fetchLater(id: string): void {
    pendingFetch.add(id);
    if (fetchTimer) return;
    fetchTimer = setTimeout(async () => {
      fetchTimer = null;
      const ids = [...pendingFetch];
      pendingFetch = new Set();
      for (const id of ids) {
        try {
          const r = await ctx.api.getRun(id);
          if (disposed) return;
          if (!runs.has(r.id)) order.set(r.id, -order.size);
          runs.set(r.id, r);
        } catch {
          // gone or not visible to this token
        }
      }
      queueRender();
    }, 200);
  }

  renderHead();
  render();
  void load(true);
  // Keeps ETAs ticking between messages.
  const tick = setInterval(() => runs.size > 0 && [...runs.values()].some((r) => r.state === "running") && queueRender(), 5000);
  return () => {
    disposed = true;
    clearInterval(tick);
    if (fetchTimer) clearTimeout(fetchTimer);
    stream?.close();
  };
};
