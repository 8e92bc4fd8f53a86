import { BEARER_PROTOCOL_PREFIX, STREAM_PROTOCOL, type StreamMessage, streamMessageSchema } from "../../shared/stream-messages.ts";

export type StreamStatus = "connecting" | "live" | "reconnecting" | "closed";

export interface LiveStreamOptions {
  /** ws:// URL without the resume parameter. */
  url: string;
  token: () => string;
  onMessage: (message: StreamMessage) => void;
  onStatus?: (status: StreamStatus, detail?: string) => void;
  /** Called after a reconnect: the page may have missed what carries no seq (progress, new runs). */
  onReconnect?: () => void;
  /** A run's stream resumes with `after=<highest durable seq seen>`; the multi-run stream cannot. */
  resume?: boolean;
}

/**
 * A WebSocket over the API's stream (shared/stream-messages.ts) that reconnects with backoff (0.5 s
 * doubling to 10 s), resumes a run's stream after the last durable seq it delivered, and drops durable
 * events it has already delivered, so the page sees each once. The token goes as a
 * `Sec-WebSocket-Protocol` entry next to the protocol name the server echoes (browsers cannot set an
 * Authorization header on a WebSocket). A close with 1000 (the run reached a terminal state) ends it.
 */
export class LiveStream {
  #ws: WebSocket | null = null;
  #lastSeq: number;
  #seen = new Map<string, number>();
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  #everOpen = false;

  constructor(readonly options: LiveStreamOptions, after = 0) {
    this.#lastSeq = after;
    this.#connect();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#ws?.close(1000);
    this.#ws = null;
  }

  #connect(): void {
    if (this.#closed) return;
    const url = new URL(this.options.url);
    if (this.options.resume) url.searchParams.set("after", String(this.#lastSeq));
    const token = this.options.token();
    this.options.onStatus?.(this.#attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(url, token ? [STREAM_PROTOCOL, `${BEARER_PROTOCOL_PREFIX}${token}`] : [STREAM_PROTOCOL]);
    this.#ws = ws;
    ws.onopen = () => {
      this.#attempt = 0;
      this.options.onStatus?.("live");
      if (this.#everOpen) this.options.onReconnect?.();
      this.#everOpen = true;
    };
    ws.onmessage = (e) => this.#receive(typeof e.data === "string" ? e.data : "");
    ws.onclose = (e) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      if (this.#closed || e.code === 1000) {
        this.options.onStatus?.("closed", e.reason);
        return;
      }
      const delay = Math.min(10_000, 500 * 2 ** this.#attempt++);
      this.options.onStatus?.("reconnecting", `${e.code}${e.reason ? ` ${e.reason}` : ""}`);
      this.#timer = setTimeout(() => this.#connect(), delay);
    };
  }

  #receive(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return;
    }
    const envelope = value as { type?: unknown; runId?: unknown; seq?: unknown };
    const durable = envelope.type !== "progress" && envelope.type !== "error";
    // Durable events (state, epoch, and types a later server may add) are delivered once per seq.
    if (durable && typeof envelope.runId === "string" && typeof envelope.seq === "number") {
      const seen = this.#seen.get(envelope.runId) ?? 0;
      if (envelope.seq <= seen) return;
      this.#seen.set(envelope.runId, envelope.seq);
      this.#lastSeq = Math.max(this.#lastSeq, envelope.seq);
    }
    const parsed = streamMessageSchema.safeParse(value);
    if (parsed.success) this.options.onMessage(parsed.data);
  }
}
