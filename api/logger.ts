/**
 * Structured log lines, one JSON object per line. Route code never logs request headers, so a bearer
 * token cannot reach the log; the request id ties every line of one request together.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * @example
 * ```ts
 * const log = jsonLogger("info", (line) => console.log(line));
 * log("info", "listening", { url: "http://127.0.0.1:8000" });
 * // {"time":"…","level":"info","msg":"listening","url":"http://127.0.0.1:8000"}
 * ```
 */
export function jsonLogger(minLevel: LogLevel, write: (line: string) => void): Logger {
  return (level, message, fields = {}) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields }, bounded));
  };
}

/** Longest text one log field keeps; the rest is counted, not written. */
export const MAX_LOG_FIELD = 2000;

/**
 * Bounds every text in a log line: a failing query's message carries the whole statement and its
 * parameters (a 1,000-knot schedule, a client's megabyte of SQL), which must not become megabytes of
 * log per request, nor put a client's data in the log in full.
 */
function bounded(_key: string, value: unknown): unknown {
  if (typeof value !== "string" || value.length <= MAX_LOG_FIELD) return value;
  return `${value.slice(0, MAX_LOG_FIELD)}… [${value.length - MAX_LOG_FIELD} more characters cut]`;
}

/** For tests: keeps every entry. */
export function memoryLogger(): Logger & {
  entries: { level: LogLevel; message: string; fields: Record<string, unknown> }[];
} {
  const entries: { level: LogLevel; message: string; fields: Record<string, unknown> }[] = [];
  const log = ((level: LogLevel, message: string, fields: Record<string, unknown> = {}) => {
    entries.push({ level, message, fields });
  }) as Logger & { entries: typeof entries };
  log.entries = entries;
  return log;
}
