import { StringDecoder } from "node:string_decoder";
import { escapeLogLine, type LogFormat } from "../shared/logger.ts";

/** Longest record kept in the log; the rest of a longer one is counted, not printed. */
export const MAX_LOG_LINE = 16 * 1024;

/**
 * Reassembles a byte stream (a child's stdout) into lines, however the pipe chunks it: a line longer
 * than a pipe buffer (64 KiB) stays one record, a multi-byte character split between chunks stays
 * whole. Each line is escaped ({@link escapeLogLine}) and bounded to {@link MAX_LOG_LINE} characters,
 * with the length of what was cut said at its end. Empty lines are dropped.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder("utf8");
  #line = "";
  #cut = 0;

  constructor(private readonly emit: (line: string) => void, private readonly max = MAX_LOG_LINE) {}

  push(chunk: Buffer | string): void {
    const parts = (typeof chunk === "string" ? chunk : this.#decoder.write(chunk)).split("\n");
    for (let i = 0; i < parts.length; i++) {
      this.#append(parts[i]!);
      if (i < parts.length - 1) this.#flush();
    }
  }

  /** Emits what is left after the stream ended without a final newline. */
  end(): void {
    this.#append(this.#decoder.end());
    this.#flush();
  }

  #append(text: string): void {
    const room = this.max - this.#line.length;
    if (text.length <= room) this.#line += text;
    else {
      this.#line += text.slice(0, Math.max(0, room));
      this.#cut += text.length - Math.max(0, room);
    }
  }

  #flush(): void {
    const line = this.#line.endsWith("\r") ? this.#line.slice(0, -1) : this.#line;
    const cut = this.#cut;
    this.#line = "";
    this.#cut = 0;
    if (line === "" && cut === 0) return;
    this.emit(escapeLogLine(line) + (cut > 0 ? ` … [${cut} more characters cut]` : ""));
  }
}

/**
 * A child's line as the service writes it. Text: time (the child's own when its line starts with one),
 * then the child's name in brackets. JSON: a child's JSON line gets a `process` field (no re-parse: its
 * first brace is widened), anything else (a crash's stack on stderr) becomes a JSON line of its own, so
 * a log shipper reads every line.
 *
 * @example
 * ```ts
 * childLine("json", "api", '{"time":"…","level":"info","msg":"request"}'); // '{"process":"api","time":…}'
 * childLine("text", "worker-1", "run 7c… started");                         // '2026-…Z [worker-1] run 7c… started'
 * ```
 */
export function childLine(format: LogFormat, child: string, line: string): string {
  if (format === "text") {
    // A child's text line starts with its own time: keep that one rather than print two.
    const own = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)$/s.exec(line);
    return own ? `${own[1]} [${child}] ${own[2]}` : `${new Date().toISOString()} [${child}] ${line}`;
  }
  if (line.startsWith("{\"") && line.endsWith("}")) return `{"process":${JSON.stringify(child)},${line.slice(1)}`;
  return JSON.stringify({ time: new Date().toISOString(), level: "info", process: child, msg: line });
}
