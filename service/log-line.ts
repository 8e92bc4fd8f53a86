import { StringDecoder } from "node:string_decoder";

/** Longest record kept in the log; the rest of a longer one is counted, not printed. */
export const MAX_LOG_LINE = 16 * 1024;

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
