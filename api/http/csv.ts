/**
 * RFC 4180 CSV: every field that holds a comma, quote, CR or LF is quoted, quotes doubled, lines end
 * in CRLF. null and undefined are empty fields; objects and arrays are their JSON; dates ISO 8601.
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
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Whether the client asked for CSV (Accept: text/csv, with or without parameters). */
export function acceptsCsv(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/csv\s*(;|,|$)/i.test(accept);
}
