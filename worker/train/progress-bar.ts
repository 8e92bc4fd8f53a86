/**
 * One line of a text progress bar, for terminals: `[#########.........] 45% 281/625 ETA 1:02 …`.
 *
 * @example
 * process.stderr.write("\r" + formatProgressBar({ done: 281, total: 625, etaSeconds: 62, suffix: "loss 1.2" }));
 */
export interface ProgressBarOptions {
  done: number;
  /** Null when unknown: then only the count is shown. */
  total: number | null;
  width?: number;
  prefix?: string;
  suffix?: string;
  etaSeconds?: number;
}

export function formatProgressBar(o: ProgressBarOptions): string {
  const width = o.width ?? 30;
  const parts: string[] = [];
  if (o.prefix) parts.push(o.prefix);
  if (o.total !== null && o.total > 0) {
    const frac = Math.min(1, Math.max(0, o.done / o.total));
    const filled = Math.round(frac * width);
    parts.push(`[${"#".repeat(filled)}${".".repeat(width - filled)}]`, `${Math.floor(frac * 100).toString().padStart(3)}%`, `${o.done}/${o.total}`);
  } else {
    parts.push(`${o.done}`);
  }
  if (o.etaSeconds !== undefined && Number.isFinite(o.etaSeconds)) parts.push(`ETA ${formatDuration(o.etaSeconds)}`);
  if (o.suffix) parts.push(o.suffix);
  return parts.join(" ");
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
