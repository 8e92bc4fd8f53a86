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
    write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields }));
  };
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
