/**
 * The worker's one WebSocket to the API (`GET /v1/workers/stream`, worker-scope token), over which it
 * pushes what it has just committed (state and epoch events) and progress between epochs.
 *
 * Fire and forget: publishing never throws, never waits and never queues while the socket is down or
 * congested; the message is dropped and counted. That is safe because the socket is only the fast path:
 * every durable event is already committed when it is published, and every API instance also learns of
 * it through Postgres NOTIFY and reads it from run_events. Training never waits on this socket.
 *
 * @example
 * ```ts
 * const stream = new WorkerStream({ apiUrl: config.API_URL, token: config.WORKER_TOKEN, log });
 * stream.start();
 * const seq = await recordEpoch(sql, lease, metrics, null);
 * stream.publishEvent({ runId: lease.runId, seq, type: "epoch", payload: { ...metrics, attempt: lease.attempt } });
 * stream.publishProgress({ runId, seq, attempt, epoch, batch, batchesPerEpoch, loss, acc, lr, imagesPerSec, etaSeconds });
 * await stream.close();
 * ```
 */
import WebSocket from "ws";
import { eventMessage, type ProgressMessage, type StoredRunEvent } from "../../shared/stream-messages.ts";
import type { LineLog } from "../../shared/logger.ts";

export interface WorkerStreamOptions {
  /** The API's base URL (http:// or https://); the socket goes to /v1/workers/stream on it. */
  apiUrl: string;
  /** A token with the `worker` scope. */
  token: string;
  log?: (line: string) => void;
  /** First reconnect delay; doubles per failed attempt up to maxBackoffMs, with jitter. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Ping the API this often; no pong before the next ping means the connection is dead. */
  pingMs?: number;
  /** Above this many unsent bytes, messages are dropped instead of queued. */
  maxBufferedBytes?: number;
}

export interface WorkerStreamStats {
  /** Connections opened. */
  connects: number;
  sent: number;
  /** Not sent: the socket was down or congested. */
  dropped: number;
}

/** The worker socket's path on the API. */
export const WORKER_STREAM_PATH = "/v1/workers/stream";

export class WorkerStream {
  readonly #url: string;
  readonly #token: string;
  readonly #log: LineLog;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #pingMs: number;
  readonly #maxBufferedBytes: number;
  #socket: WebSocket | null = null;
  #failures = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  #pingTimer: ReturnType<typeof setInterval> | null = null;
  #stopped = true;
  #lastError = "";
  readonly #stats: WorkerStreamStats = { connects: 0, sent: 0, dropped: 0 };

  constructor(opts: WorkerStreamOptions) {
    const url = new URL(WORKER_STREAM_PATH, opts.apiUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`API_URL must be an http:// or https:// URL, found ${JSON.stringify(opts.apiUrl)}`);
    }
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.#url = url.toString();
    this.#token = opts.token;
    this.#log = opts.log ?? (() => {});
    this.#minBackoffMs = opts.minBackoffMs ?? 250;
    this.#maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.#pingMs = opts.pingMs ?? 15_000;
    this.#maxBufferedBytes = opts.maxBufferedBytes ?? 256 * 1024;
  }

  /** Connects, and keeps reconnecting until {@link close}. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  get connected(): boolean {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  get stats(): WorkerStreamStats {
    return { ...this.#stats };
  }

  /** A durable event the worker has committed, exactly as stored (the API delivers it as is). */
  publishEvent(event: StoredRunEvent): void {
    this.#send(JSON.stringify(eventMessage(event)));
  }

  /** Progress within an epoch; `seq` is the last durable seq this worker committed for the run (0 if none). */
  publishProgress(progress: Omit<ProgressMessage, "type">): void {
    this.#send(JSON.stringify({ type: "progress", ...progress }));
  }

  /** Stops reconnecting and closes the socket. */
  async close(): Promise<void> {
    this.#stopped = true;
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    const socket = this.#socket;
    this.#socket = null;
    this.#stopPing();
    if (socket === null || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.terminate();
        resolve();
      }, 1000);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(1000, "worker stopping");
    });
  }

  /** Drops the connection as if the network failed (tests, and a dead peer). It reconnects. */
  kill(): void {
    this.#socket?.terminate();
  }

  #send(text: string): void {
    const socket = this.#socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > this.#maxBufferedBytes) {
      this.#stats.dropped++;
      return;
    }
    try {
      socket.send(text);
      this.#stats.sent++;
    } catch {
      this.#stats.dropped++;
    }
  }

  #connect(): void {
    if (this.#stopped) return;
    const socket = new WebSocket(this.#url, {
      headers: { authorization: `Bearer ${this.#token}` },
      handshakeTimeout: 10_000,
    });
    this.#socket = socket;
    socket.on("open", () => {
      this.#stats.connects++;
      this.#failures = 0;
      if (this.#lastError !== "") this.#log(`worker stream: connected to ${this.#url}`);
      this.#lastError = "";
      this.#startPing(socket);
    });
    socket.on("error", (e: Error) => {
      // Say it once per kind of failure, not once per retry.
      if (e.message !== this.#lastError) this.#log(`worker stream: ${e.message}; reconnecting with backoff`, "warn");
      this.#lastError = e.message;
    });
    socket.on("close", () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#stopPing();
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#reconnectTimer !== null) return;
    const ceiling = Math.min(this.#maxBackoffMs, this.#minBackoffMs * 2 ** this.#failures);
    this.#failures++;
    // Jitter keeps a fleet of workers from reconnecting in lockstep after an API restart.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connect();
    }, delay);
  }

  #startPing(socket: WebSocket): void {
    this.#stopPing();
    let alive = true;
    socket.on("pong", () => (alive = true));
    this.#pingTimer = setInterval(() => {
      if (!alive) {
        this.#log("worker stream: no pong from the API; reconnecting", "warn");
        socket.terminate();
        return;
      }
      alive = false;
      try {
        socket.ping();
      } catch {
        // Closing: the close handler reconnects.
      }
    }, this.#pingMs);
    this.#pingTimer.unref?.();
  }

  #stopPing(): void {
    if (this.#pingTimer !== null) clearInterval(this.#pingTimer);
    this.#pingTimer = null;
  }
}
