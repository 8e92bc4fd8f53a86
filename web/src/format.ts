// Number formats follow the seed's tables: accuracies with 5 decimals (0.92030), losses with 4
// (0.1010), hyper-parameters as short as they can be written.

/** "—" for a missing value, else the number with `digits` decimals. */
export function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || !Number.isFinite(value) ? "—" : value.toFixed(digits);
}

/** A hyper-parameter as the seed writes it: 0.15, 1e-3, 1.2e-3. */
export function param(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  if (value === 0) return "0";
  const abs = Math.abs(value);
  if (abs >= 0.01 && abs < 1e4) return String(Number(value.toPrecision(6)));
  const [mantissa, exponent] = value.toExponential().split("e");
  return `${Number(Number(mantissa).toPrecision(6))}e${exponent?.replace("+", "")}`;
}

/** Seconds as "1 h 02 min", "3 min 05 s", "12 s". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** A timestamp in the reader's locale, or "—". */
export function timestamp(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleString();
}
