/**
 * Test helpers for the live streams (Deno): a stream server on a real port, tokens, runs, a run driven
 * through the queue's real fenced writers (worker/queue/), and a subscriber that records what it gets.
 * Kept beside the code so that `deno check api` checks it.
 */
import { Hono } from "hono";
import type postgres from "postgres";
import { generateApiToken } from "../../shared/api-tokens.ts";
import type { TokenScope } from "../../shared/db/schema.ts";
import { eventMessage, STREAM_PROTOCOL } from "../../shared/stream-messages.ts";
import { claimRun } from "../../worker/queue/claim-run.ts";
import { completeRun } from "../../worker/queue/complete-run.ts";
import type { ClaimedRun, EpochMetrics } from "../../worker/queue/queue-types.ts";
import { recordEpoch } from "../../worker/queue/record-epoch.ts";
import type { WorkerStream } from "../../worker/stream/worker-stream.ts";
import { createStreamRoutes } from "./create-stream-routes.ts";
import { StreamHub } from "./stream-hub.ts";
import type { StreamLimits } from "./stream-limits.ts";

export interface StreamServer {
  url: string;
  wsUrl: string;
  hub: StreamHub;
  close(): Promise<void>;
}

/** An API instance with only the stream routes, on 127.0.0.1 and a free port. */
export async function startStreamServer(
  sql: postgres.Sql,
  opts: { limits?: Partial<StreamLimits>; allowedOrigins?: string[]; instanceId?: string } = {},
): Promise<StreamServer> {
  const hub = new StreamHub({ sql, ...(opts.instanceId ? { instanceId: opts.instanceId } : {}) });
  await hub.start();
  const app = new Hono();
  app.route("/v1", createStreamRoutes({ sql, hub, limits: opts.limits ?? {}, allowedOrigins: opts.allowedOrigins ?? [] }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    wsUrl: url.replace("http:", "ws:"),
    hub,
    close: async () => {
      await hub.close();
      await server.shutdown();
    },
  };
}

export async function createToken(sql: postgres.Sql, scopes: TokenScope[], expiresAt?: Date): Promise<string> {
  const { token, prefix, hash } = await generateApiToken();
  await sql`
    insert into api_tokens (name, token_hash, prefix, scopes, expires_at)
    values (${`test ${scopes.join(",")}`}, ${hash}, ${prefix}, ${`{${scopes.join(",")}}`}::text[], ${expiresAt ?? null})`;
  return token;
}

let priority = 1_000_000;

/** A queued run that the next claim takes (each new one is more urgent than the last). */
export async function insertRun(sql: postgres.Sql, opts: { sweepId?: string | null; epochs?: number } = {}): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into runs (spec, epochs, priority, sweep_id)
    values (${sql.json({ schedule: "[1e-3, 0]lin[1e-3, 2]" })}, ${opts.epochs ?? 10}, ${priority++},
      ${opts.sweepId ?? null})
    returning id`;
  return row!.id;
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
 * completeRun), optionally publishing each committed event on a WorkerStream as the real worker does.
 */
export class DrivenRun {
  lease!: ClaimedRun;
  lastSeq = 0;
  constructor(readonly sql: postgres.Sql, readonly runId: string, readonly stream: WorkerStream | null = null) {}

  async claim(workerId = "test-worker"): Promise<void> {
    const claimed = await claimRun(this.sql, { workerId, leaseS: 60 });
    if (claimed === null || claimed.runId !== this.runId) throw new Error(`claimed ${claimed?.runId} instead of ${this.runId}`);
    this.lease = claimed;
    // claimRun does not return the seq of its `running` event: the table has it.
    const [row] = await this.sql<{ last_seq: number }[]>`select last_seq::float8 as last_seq from runs where id = ${this.runId}`;
    this.lastSeq = row!.last_seq;
  }

  async epoch(epoch: number): Promise<number> {
    const m = metricsFor(epoch);
    const seq = await recordEpoch(this.sql, this.lease, m, null);
    this.lastSeq = seq;
    this.stream?.publishEvent({ runId: this.runId, seq, type: "epoch", payload: { ...m, attempt: this.lease.attempt } });
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
