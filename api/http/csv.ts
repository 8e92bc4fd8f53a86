/**
 * RFC 4180 CSV: every field that holds a comma, quote, CR or LF is quoted, quotes doubled, lines end
 * in CRLF. null and undefined are empty fields; objects and arrays are their JSON; dates ISO 8601.
 * Text that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a CR:
 * a run named `=HYPERLINK(...)`) gets a leading `'` (OWASP's advice), which spreadsheets show as text;
 * numbers, including negative ones sent as text (Postgres numerics), stay as they are.
 *
 * @example
 * ```ts
 * toCsv(["a", "b"], [[1, 'say "hi"'], [null, { x: 1 }]]);
 * // 'a,b\r\n1,"say ""hi"""\r\n,"{""x"":1}"\r\n'
 * ```
 */
export function toCsv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const lines = [header.map(field), ...rows.map((row) => row.map(field))];
  return lines.map((cells) => cells.join(",") + "\r\n").join("");
}

function field(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = value instanceof Date
    ? value.toISOString()
    : typeof value === "object"
    ? JSON.stringify(value)
    : String(value);
  return quoted(typeof value === "string" ? neutralizeFormula(text) : text);
}

const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** `'` before text a spreadsheet would evaluate; see {@link toCsv}. */
export function neutralizeFormula(text: string): string {
  return FORMULA_START.test(text) && !PLAIN_NUMBER.test(text) ? `'${text}` : text;
}

function quoted(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Whether the client asked for CSV (Accept: text/csv, with or without parameters). */
export function acceptsCsv(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/csv\s*(;|,|$)/i.test(accept);
}
