/**
 * Test helpers for the live streams (Deno): a stream server on a real port, tokens, runs, a run driven
 * through the queue's real fenced writers (shared/queue/), and a subscriber that records what it gets.
 * Kept beside the code so that `deno check api` checks it.
 */
import { Hono } from "hono";
import postgres from "postgres";
import { generateApiToken } from "../../shared/api-tokens.ts";
import type { TokenScope } from "../../shared/run-states.ts";
import {
  eventMessage,
  type ProgressMessage,
  STREAM_PROTOCOL,
  type StoredRunEvent,
} from "../../shared/stream-messages.ts";

/** What a worker's socket to the API offers (worker/stream/worker-stream.ts's WorkerStream has it). */
export interface EventPublisher {
  publishEvent(event: StoredRunEvent): void;
  publishProgress(progress: Omit<ProgressMessage, "type">): void;
}
import { claimRun } from "../../shared/queue/claim-run.ts";
import { completeRun } from "../../shared/queue/complete-run.ts";
import { enqueueRuns } from "../../shared/queue/enqueue-run.ts";
import type { ClaimedRun, EpochMetrics } from "../../shared/queue/queue-types.ts";
import { recordEpoch } from "../../shared/queue/record-epoch.ts";
import { createStreamRoutes } from "./create-stream-routes.ts";
import { StreamHub } from "./stream-hub.ts";
import type { StreamLimits } from "./stream-limits.ts";

export interface StreamServer {
  url: string;
  wsUrl: string;
  hub: StreamHub;
  sql: postgres.Sql;
  close(): Promise<void>;
}

/**
 * An API instance with only the stream routes, on 127.0.0.1 and a free port, with its own Postgres
 * client (and so its own LISTEN connection), as a separate API process would have.
 */
export async function startStreamServer(
  databaseUrl: string,
  opts: { limits?: Partial<StreamLimits>; allowedOrigins?: string[]; instanceId?: string } = {},
): Promise<StreamServer> {
  const sql = postgres(databaseUrl, { max: 8, onnotice: () => {} });
  const hub = new StreamHub({ sql, ...(opts.instanceId ? { instanceId: opts.instanceId } : {}) });
  await hub.start();
  const app = new Hono();
  app.route(
    "/",
    createStreamRoutes({ sql, hub, limits: opts.limits ?? {}, allowedOrigins: opts.allowedOrigins ?? [] }),
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    wsUrl: url.replace("http:", "ws:"),
    hub,
    sql,
    close: async () => {
      await hub.close();
      await server.shutdown();
      await sql.end({ timeout: 1 });
    },
  };
}

export async function createToken(
  sql: postgres.Sql,
  scopes: TokenScope[],
  expiresAt?: Date,
): Promise<string> {
  const { token, prefix, hash } = await generateApiToken();
  await sql`
    insert into api_tokens (name, token_hash, prefix, scopes, expires_at)
    values (${`test ${scopes.join(",")}`}, ${hash}, ${prefix}, ${`{${scopes.join(",")}}`}::text[], ${
    expiresAt ?? null
  })`;
  return token;
}

/**
 * Each new run here is more urgent than the last, and than runs left queued at the default priority 0
 * (spec priorities go up to 1000).
 */
let priority = 1;

/** A queued run that the next claim takes (each new one is more urgent than the last). */
export async function insertRun(
  sql: postgres.Sql,
  opts: { sweepId?: string | null; epochs?: number } = {},
): Promise<string> {
  if (priority > 1000) throw new RangeError("insertRun: more than 1000 runs in one test process");
  const [id] = await enqueueRuns(sql, [{ epochs: opts.epochs ?? 10, priority: priority++, sweepId: opts.sweepId ?? null }]);
  return id!;
}

export function metricsFor(epoch: number): EpochMetrics {
  return {
    epoch,
    loss: 2 / epoch,
    acc: 1 - 1 / (epoch + 1),
    valLoss: 2.1 / epoch,
    valAcc: 0.9 - 0.5 / (epoch + 1),
    lr: 1e-3 / epoch,
    wd: 1.5e-4 / epoch,
    seconds: 0.5 + epoch / 1000,
    imagesPerSec: 1234.5,
  };
}

/**
 * A worker's durable writes, through the queue's real fenced writers (claimRun, recordEpoch,
 * completeRun), optionally publishing each committed event on a worker's socket (an EventPublisher) as the real worker does.
 */
export class DrivenRun {
  lease!: ClaimedRun;
  lastSeq = 0;
  constructor(
    readonly sql: postgres.Sql,
    readonly runId: string,
    readonly stream: EventPublisher | null = null,
  ) {}

  async claim(workerId = "test-worker"): Promise<void> {
    const claimed = await claimRun(this.sql, { workerId, leaseS: 60 });
    if (claimed === null || claimed.runId !== this.runId) {
      throw new Error(`claimed ${claimed?.runId} instead of ${this.runId}`);
    }
    this.lease = claimed;
    // claimRun does not return the seq of its `running` event: the table has it.
    const [row] = await this.sql<
      { last_seq: number }[]
    >`select last_seq::float8 as last_seq from runs where id = ${this.runId}`;
    this.lastSeq = row!.last_seq;
  }

  async epoch(epoch: number): Promise<number> {
    const m = metricsFor(epoch);
    const seq = await recordEpoch(this.sql, this.lease, m, null);
    this.lastSeq = seq;
    this.stream?.publishEvent({
      runId: this.runId,
      seq,
      type: "epoch",
      payload: { ...m, attempt: this.lease.attempt },
    });
    return seq;
  }

  progress(epoch: number, batch: number): void {
    this.stream?.publishProgress({
      runId: this.runId,
      seq: this.lastSeq,
      attempt: this.lease.attempt,
      epoch,
      batch,
      batchesPerEpoch: 100,
      loss: 1,
      acc: 0.5,
      lr: 1e-3,
      imagesPerSec: 1000,
      etaSeconds: 10,
    });
  }

  async complete(): Promise<void> {
    await completeRun(this.sql, this.lease);
  }
}

/** Every stored event of a run as stream messages, in seq order: what a subscriber must reassemble. */
export async function storedMessages(sql: postgres.Sql, runId: string): Promise<Record<string, unknown>[]> {
  const rows = await sql<{ seq: number; type: string; payload: Record<string, unknown> }[]>`
    select seq::float8 as seq, type, payload from run_events where run_id = ${runId} order by seq`;
  return rows.map((r) => eventMessage({ runId, seq: r.seq, type: r.type, payload: r.payload }));
}

/** One WebSocket subscriber that records every message and how it closed. */
export class Subscriber {
  readonly messages: Record<string, unknown>[] = [];
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  #onMessage: (() => void) | null = null;

  constructor(url: string, token: string, opts: { viaProtocol?: boolean; origin?: string } = {}) {
    const headers: Record<string, string> = opts.viaProtocol ? {} : { authorization: `Bearer ${token}` };
    if (opts.origin) headers.origin = opts.origin;
    const protocols = opts.viaProtocol ? [STREAM_PROTOCOL, `bearer.${token}`] : [];
    // Deno's WebSocket takes headers as a non-standard option.
    this.socket = new WebSocket(url, { headers, protocols } as unknown as string[]);
    this.opened = new Promise((resolve, reject) => {
      this.socket.addEventListener("open", () => resolve());
      this.socket.addEventListener("error", () => reject(new Error(`could not open ${url}`)));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.socket.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }));
    });
    this.socket.addEventListener("message", (e) => {
      this.messages.push(JSON.parse(e.data));
      this.#onMessage?.();
    });
  }

  durable(): Record<string, unknown>[] {
    return this.messages.filter((m) => m.type !== "progress" && m.type !== "error");
  }

  /** Resolves once `predicate` holds for the messages so far (checked on each message). */
  waitFor(predicate: (messages: Record<string, unknown>[]) => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate(this.messages)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#onMessage = null;
        reject(new Error(`timed out after ${timeoutMs} ms with ${this.messages.length} messages`));
      }, timeoutMs);
      this.#onMessage = () => {
        if (!predicate(this.messages)) return;
        clearTimeout(timer);
        this.#onMessage = null;
        resolve();
      };
    });
  }

  close(): void {
    this.socket.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A WebSocket client on a bare TCP connection, for what a well-behaved client never does: stop reading
 * (`paused`), or ignore pings. Parses the server's text frames; answers pings only when `answerPings`.
 */
export class RawWsClient {
  readonly messages: Record<string, unknown>[] = [];
  closeCode: number | null = null;
  #conn!: Deno.TcpConn;
  #paused: boolean;
  #resume: (() => void) | null = null;
  #buf = new Uint8Array(0);
  #done!: Promise<void>;

  private constructor(paused: boolean, readonly answerPings: boolean) {
    this.#paused = paused;
  }

  /** Opens the socket (handshake read), then reads frames unless `paused`. Resolves with the HTTP status line. */
  static async connect(
    url: string,
    token: string,
    opts: { paused?: boolean; answerPings?: boolean } = {},
  ): Promise<{ client: RawWsClient; status: string }> {
    const u = new URL(url);
    const client = new RawWsClient(opts.paused ?? false, opts.answerPings ?? true);
    client.#conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await client.#write(new TextEncoder().encode(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    ));
    // Read just the response head; frames may follow in the same packet.
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      const chunk = new Uint8Array(1024);
      const n = await client.#conn.read(chunk);
      if (n === null) throw new Error("connection closed during the handshake");
      client.#append(chunk.subarray(0, n));
      head = new TextDecoder("latin1").decode(client.#buf);
    }
    const end = head.indexOf("\r\n\r\n") + 4;
    client.#buf = client.#buf.slice(end);
    client.#done = client.#readLoop();
    return { client, status: head.slice(0, head.indexOf("\r\n")) };
  }

  get paused(): boolean {
    return this.#paused;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#resume?.();
  }

  /** Resolves when the server closed the connection (or the close frame arrived). */
  get done(): Promise<void> {
    return this.#done;
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this.resume();
  }

  async #readLoop(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        this.#parse();
        if (this.closeCode !== null) return;
        if (this.#paused) await new Promise<void>((r) => (this.#resume = r));
        const n = await this.#conn.read(chunk);
        if (n === null) return;
        this.#append(chunk.subarray(0, n));
      }
    } catch {
      // Closed under us.
    }
  }

  #append(bytes: Uint8Array): void {
    const next = new Uint8Array(this.#buf.length + bytes.length);
    next.set(this.#buf);
    next.set(bytes, this.#buf.length);
    this.#buf = next;
  }

  #parse(): void {
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      const opcode = b[0]! & 0x0f;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = (b[2]! << 8) | b[3]!;
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
        off = 10;
      }
      if (b.length < off + len) return;
      const payload = b.slice(off, off + len);
      this.#buf = b.slice(off + len);
      if (opcode === 1) this.messages.push(JSON.parse(new TextDecoder().decode(payload)));
      else if (opcode === 8) this.closeCode = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : 1005;
      else if (opcode === 9 && this.answerPings) void this.#pong(payload);
    }
  }

  async #pong(payload: Uint8Array): Promise<void> {
    // Client frames are masked; a zero mask keeps the payload as is.
    const frame = new Uint8Array(6 + payload.length);
    frame[0] = 0x8a;
    frame[1] = 0x80 | payload.length;
    frame.set(payload, 6);
    await this.#write(frame).catch(() => {});
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }
}
