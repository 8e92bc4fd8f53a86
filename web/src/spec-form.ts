// Turning the submit form's text fields into run specs: one spec, or a sweep when a field lists
// several values. Pure, so it can be tested without a browser.

/** A form field for one spec path. `list` fields accept several values ("0.1, 0.15, 0.2") for a sweep. */
export interface FieldDef {
  path: string;
  label: string;
  kind: "number" | "text" | "schedule" | "select" | "checkbox" | "tags";
  list: boolean;
  options?: string[];
  placeholder?: string;
  help?: string;
  /** Only meaningful for some datasets (trainSize, imageSize: synthetic). */
  onlyFor?: string;
}

export const FIELDS: FieldDef[] = [
  { path: "name", label: "Name", kind: "text", list: false, placeholder: "run 17" },
  { path: "tags", label: "Tags", kind: "tags", list: false, placeholder: "table3, cosine", help: "comma-separated" },
  { path: "schedule", label: "LR schedule", kind: "schedule", list: true, placeholder: "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]", help: "one schedule per line; several lines make a sweep. α is the schedule's peak." },
  { path: "optimizer.lambda", label: "λ (weight decay)", kind: "number", list: true, placeholder: "0.15" },
  { path: "optimizer.l2", label: "l2", kind: "number", list: true, placeholder: "0" },
  { path: "batchSize", label: "Batch size", kind: "number", list: true, placeholder: "64" },
  { path: "threshold", label: "val_acc threshold", kind: "number", list: false, placeholder: "0.92" },
  { path: "data.dataset", label: "Dataset", kind: "select", list: false, options: ["cifar10", "fashion-mnist", "synthetic"] },
  { path: "data.trainSize", label: "Train size", kind: "number", list: true, placeholder: "50000", onlyFor: "synthetic" },
  { path: "data.imageSize", label: "Image size", kind: "number", list: false, placeholder: "32", onlyFor: "synthetic" },
  { path: "data.validationSize", label: "Validation size", kind: "number", list: true, placeholder: "10000" },
  { path: "data.shift", label: "Shift", kind: "number", list: true, placeholder: "0.07" },
  { path: "data.seed", label: "Seed", kind: "number", list: true, placeholder: "1" },
  { path: "data.flip", label: "Horizontal flips", kind: "checkbox", list: false },
  { path: "data.stratified", label: "Stratified validation split", kind: "checkbox", list: false },
  { path: "model.depth", label: "Depth", kind: "number", list: true, placeholder: "56" },
];

/** Raw form values by path (checkbox fields: "true"/"false"). */
export type FormValues = Record<string, string>;

/** A value as typed: a number when it reads as one, else the text itself, so the schema can say what is wrong. */
function coerce(text: string): number | string {
  const t = text.trim();
  return t !== "" && Number.isFinite(Number(t)) ? Number(t) : t;
}

/** The values a list field holds: schedules one per line, numbers separated by commas, spaces or lines. */
export function fieldValues(def: FieldDef, raw: string): unknown[] {
  const text = raw.trim();
  if (text === "") return [];
  if (def.kind === "schedule") return text.split(/\n+/).map((l) => l.trim()).filter(Boolean);
  if (def.kind === "tags") return [text.split(",").map((t) => t.trim()).filter(Boolean)];
  if (def.kind === "checkbox") return [text === "true"];
  if (def.kind === "number") return def.list ? text.split(/[\s,;]+/).filter(Boolean).map(coerce) : [coerce(text)];
  return [text];
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[keys[keys.length - 1]!] = value;
}

export interface FormPlan {
  /** The spec with every field's first value (what a single run submits, a sweep's base). */
  baseSpec: Record<string, unknown>;
  /** Fields with more than one value: a sweep's grid, by dotted path. */
  grid: Record<string, unknown[]>;
  /** Every spec the grid expands to (without repeats), for validation before sending. */
  specs: { spec: Record<string, unknown>; combo: Record<string, unknown> }[];
  count: number;
}

/**
 * The run spec(s) the form describes. Empty fields are left out (the schema's defaults apply); the
 * dataset-specific fields are sent only for their dataset. Checkboxes are sent only when they differ
 * from the default (true).
 *
 * @example
 * ```ts
 * planForm({ schedule: "[1e-3, 0]cos[1e-5, 30]", "optimizer.lambda": "0.1, 0.2" }).grid;
 * // { "optimizer.lambda": [0.1, 0.2] }
 * ```
 */
export function planForm(values: FormValues, maxSpecs = 1000): FormPlan {
  const baseSpec: Record<string, unknown> = {};
  const grid: Record<string, unknown[]> = {};
  const dataset = values["data.dataset"] || "cifar10";
  for (const def of FIELDS) {
    if (def.onlyFor && def.onlyFor !== dataset) continue;
    const raw = values[def.path] ?? "";
    if (def.kind === "checkbox" && raw !== "false") continue;
    if (def.path === "data.dataset" && raw === "") continue;
    const vals = fieldValues(def, raw);
    if (vals.length === 0) continue;
    setPath(baseSpec, def.path, vals[0]);
    if (vals.length > 1) grid[def.path] = vals;
  }
  const keys = Object.keys(grid);
  const count = keys.reduce((n, k) => n * grid[k]!.length, 1);
  const specs: FormPlan["specs"] = [];
  const expand = (i: number, combo: Record<string, unknown>) => {
    if (specs.length >= maxSpecs) return;
    if (i === keys.length) {
      const spec = structuredClone(baseSpec);
      for (const [k, v] of Object.entries(combo)) setPath(spec, k, v);
      specs.push({ spec, combo });
      return;
    }
    for (const v of grid[keys[i]!]!) expand(i + 1, { ...combo, [keys[i]!]: v });
  };
  expand(0, {});
  return { baseSpec, grid, specs, count };
}
