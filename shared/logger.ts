/**
 * The one logger of every process (the service, the API, the workers): levels in order, and each line
 * a message plus fields. Route code never logs request headers, so a bearer token cannot reach the log;
 * the request id ties every line of one request together. Two line formats of the same content: JSON
 * (one object per line, for log shippers) and text (for a terminal); LOG_FORMAT picks one.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;
export type LogFormat = "json" | "text";
/** A plain line and its level (info when not given): what the runner and the service's parts take. */
export type LineLog = (line: string, level?: LogLevel) => void;

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface LoggerOptions {
  /** The lowest level written (LOG_LEVEL). */
  level: LogLevel;
  format: LogFormat;
  /** Fields on every line: which process wrote it (`{ worker: "w1" }`). */
  fields?: Record<string, unknown>;
  write: (line: string) => void;
}

/**
 * @example
 * ```ts
 * const log = createLogger({ level: "info", format: "text", fields: { worker: "w1" }, write: console.log });
 * log("warn", "the database cannot be reached", { runId: "7c…" });
 * // 2026-11-30T08:00:00.000Z WARN worker=w1 the database cannot be reached runId=7c…
 * ```
 */
export function createLogger(o: LoggerOptions): Logger {
  const base = o.fields ?? {};
  return (level, message, fields = {}) => {
    if (ORDER[level] < ORDER[o.level]) return;
    const time = new Date().toISOString();
    if (o.format === "json") {
      o.write(JSON.stringify({ time, level, msg: message, ...base, ...fields }, bounded));
      return;
    }
    const tag = level === "info" ? "" : ` ${level.toUpperCase()}`;
    o.write(escapeLogLine(`${time}${tag}${pairs(base)} ${bounded("", message)}${pairs(fields)}`));
  };
}

/** A {@link Logger} as a {@link LineLog}: plain lines, info unless a level is given. */
export function lineLog(logger: Logger): LineLog {
  return (line, level = "info") => logger(level, line);
}

/** ` key=value` pairs; values that are not plain words are JSON-quoted so a line stays one line. */
function pairs(fields: Record<string, unknown>): string {
  let out = "";
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = JSON.stringify(value, bounded) ?? String(value);
    out += ` ${key}=${typeof value === "string" && /^[\w.:/@+-]+$/.test(value) ? value : text}`;
  }
  return out;
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

/**
 * One log record as one printable line: line breaks, carriage returns, ANSI escapes and every other
 * control character become visible escapes (`\n`, `\r`, `\x1b`), so text from a child (Postgres
 * echoing a client's SQL, a worker printing a run's name) cannot start a line of its own, move the
 * cursor, or recolour the terminal to pass as a line from the supervisor.
 *
 * @example
 * ```ts
 * escapeLogLine("x\nadmin token: y\u001b[2K"); // "x\\nadmin token: y\\x1b[2K"
 * ```
 */
export function escapeLogLine(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\t";
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, "0")}` : `\\x${code.toString(16).padStart(2, "0")}`;
  });
}
