/**
 * A sweep's grid expanded into run specs, every one validated before any is created (all or nothing).
 * Pure: no I/O, so it is tested on its own with random grids.
 */
import type { Issue } from "../../shared/issue.ts";
import { MAX_SWEEP_RUNS, type SweepRequest } from "../../shared/api-schemas.ts";
import type { RunSpec } from "../../shared/run-spec.ts";
import { validateSpec } from "../validate-spec.ts";

/** Enough to fix a bad grid; a 1000-run sweep with one bad base field would otherwise repeat it 1000 times. */
const MAX_ISSUES = 50;

export type ExpandResult = { ok: true; specs: RunSpec[] } | { ok: false; issues: Issue[] };

/**
 * The cross product of the grid (the first path varies slowest), each point `repeat` times with
 * `data.seed` raised by 0, 1, …; runs are named `<name> #<n>` unless the base or the grid names them.
 * Issues point at what to change: `grid.<path>.<index>` for a grid value, `base.<path>` otherwise.
 *
 * @example
 * ```ts
 * expandSweep({ name: "wd", base: { schedule: "[1e-3, 0]cos[1e-5, 30]" },
 *   grid: { "optimizer.lambda": [0.1, 0.2] }, repeat: 2 });
 * // { ok: true, specs: [λ 0.1 seed 1, λ 0.1 seed 2, λ 0.2 seed 1, λ 0.2 seed 2] }
 * ```
 */
export function expandSweep(request: SweepRequest): ExpandResult {
  const paths = Object.keys(request.grid);
  const lists = paths.map((p) => request.grid[p]!);
  const points = lists.reduce((n, values) => n * values.length, 1);
  const total = points * request.repeat;
  if (total > MAX_SWEEP_RUNS) {
    return {
      ok: false,
      issues: [{
        path: "grid",
        message: `expected at most ${MAX_SWEEP_RUNS} runs, found ${total} (${
          [...lists.map((l) => String(l.length)), ...(request.repeat > 1 ? [`repeat ${request.repeat}`] : [])]
            .join(" × ")
        })`,
      }],
    };
  }
  const issues = new Map<string, Issue>();
  const addIssue = (issue: Issue) => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (!issues.has(key)) issues.set(key, issue);
  };
  const specs: RunSpec[] = [];
  // Runs are numbered after the base's name (or the sweep's) unless the grid names them, or the base's
  // name is not a usable string, which then fails validation as it is.
  const baseName = request.base.name;
  const numbered = !paths.includes("name") &&
    (baseName === undefined || (typeof baseName === "string" && baseName.trim() !== ""));
  const prefix = typeof baseName === "string" ? baseName.trim() : request.name ?? "sweep";
  for (let point = 0; point < points; point++) {
    // Mixed-radix digits of `point`, the last path varying fastest.
    const choice: number[] = new Array(paths.length).fill(0);
    for (let p = paths.length - 1, rest = point; p >= 0; p--) {
      const size = lists[p]!.length;
      choice[p] = rest % size;
      rest = Math.floor(rest / size);
    }
    const input = structuredClone(request.base) as Record<string, unknown>;
    let settable = true;
    paths.forEach((path, p) => {
      const problem = setPath(input, path, lists[p]![choice[p]!]);
      if (problem !== null) {
        settable = false;
        addIssue({ path: `grid.${path}`, message: problem });
      }
    });
    if (!settable) continue;
    for (let r = 0; r < request.repeat; r++) {
      const index = point * request.repeat + r;
      if (numbered) input.name = runName(prefix, index + 1, total);
      if (r > 0) {
        const first = specs[specs.length - r];
        if (first === undefined) break; // the first repeat was invalid; its issues are recorded
        setPath(input, "data.seed", first.data.seed + r);
      }
      const parsed = validateSpec(input);
      if (parsed.ok) {
        specs.push(parsed.spec);
        continue;
      }
      for (const issue of parsed.issues) addIssue(locate(issue, paths, choice));
      break;
    }
    if (issues.size >= MAX_ISSUES) break;
  }
  if (issues.size > 0) return { ok: false, issues: [...issues.values()].slice(0, MAX_ISSUES) };
  return { ok: true, specs };
}

/** `grid.<path>.<index>…` when a grid path produced the field, else `base.<path>`. */
function locate(issue: Issue, paths: string[], choice: number[]): Issue {
  for (let p = 0; p < paths.length; p++) {
    const path = paths[p]!;
    if (issue.path === path || issue.path.startsWith(`${path}.`)) {
      return { path: `grid.${path}.${choice[p]}${issue.path.slice(path.length)}`, message: issue.message };
    }
  }
  return { path: issue.path === "" ? "base" : `base.${issue.path}`, message: issue.message };
}

function runName(prefix: string, n: number, total: number): string {
  const suffix = ` #${String(n).padStart(String(total).length, "0")}`;
  return prefix.slice(0, 200 - suffix.length) + suffix;
}

/** Sets a dotted path, creating objects on the way; returns what went wrong, or null. */
function setPath(target: Record<string, unknown>, path: string, value: unknown): string | null {
  const keys = path.split(".");
  let node: Record<string, unknown> = target;
  for (let i = 0; i < keys.length - 1; i++) {
    const key = keys[i]!;
    const next = Object.hasOwn(node, key) ? node[key] : undefined;
    if (next === undefined) {
      const created: Record<string, unknown> = {};
      Object.defineProperty(node, key, {
        value: created,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      node = created;
    } else if (typeof next === "object" && next !== null && !Array.isArray(next)) {
      node = next as Record<string, unknown>;
    } else {
      return `cannot set '${path}': base.${keys.slice(0, i + 1).join(".")} is ${
        JSON.stringify(next)
      }, not an object`;
    }
  }
  // defineProperty, not assignment: a key such as "__proto__" must become data, never a prototype.
  Object.defineProperty(node, keys[keys.length - 1]!, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return null;
}
