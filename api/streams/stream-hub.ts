/**
 * One per API instance: learns of durable run events from Postgres NOTIFY and from workers' sockets,
 * whichever comes first, and hands each (run, seq) to its listeners exactly once and in seq order.
 * The NOTIFY is sent by the event's writer right after its transaction committed
 * (shared/queue/announce-run-events.ts), not from inside it; an announcement lost to a crash between
 * the two is made up for by re-reading the `last_seq` of every run this instance serves every
 * `pollMs` (default 2 s).
 *
 * Why no event is lost or repeated: per run the hub keeps `delivered`, the highest seq handed out, and
 * only ever hands out `delivered + 1`. A NOTIFY carries only (runId, seq); the hub reads every row with
 * seq > delivered (so a lost or folded notification costs latency, never an event). A worker's message
 * about a durable event is only a hint to read the table now, sooner than NOTIFY would say: what is
 * handed out is always the stored row, written under the run's lease by its holder (the queue's fenced
 * writes), never the worker's copy — a worker token cannot make the hub relay an event for a run it
 * does not hold, or one that differs from what is stored. Anything ≤ delivered is a duplicate: dropped.
 * After the LISTEN connection comes back, every run is read again from its `delivered`.
 *
 * Progress messages are not stored: they reach this instance from a worker's socket, and are relayed to
 * the other instances through NOTIFY `run_progress` (best effort), only while the run is running the
 * attempt the message names (checked against the run's row, at most once a second per run).
 */
import type postgres from "postgres";
import { isTerminalState } from "../../shared/run-states.ts";
import {
  type ProgressMessage,
  progressMessageSchema,
  type WorkerMessage,
} from "../../shared/stream-messages.ts";
import type { Logger } from "../../shared/logger.ts";
import {
  type OutgoingEvent,
  type ReadRunEvents,
  readRunEvents,
  type ReadLastSeqs,
  readLastSeqs,
  type ReadRunInfo,
  readRunInfo,
} from "./read-run-events.ts";

/** Channel on which writers announce committed events (shared/queue/announce-run-events.ts): `{"runId","seq"}`. */
export const RUN_EVENTS_CHANNEL = "run_events";
/** Progress relayed between API instances: payload `{"from": instanceId, "message": progress}`. */
export const RUN_PROGRESS_CHANNEL = "run_progress";
/** Each hub notifies itself here to prove its LISTEN connection still works. */
export const HUB_PING_CHANNEL = "stream_hub_ping";

/** A progress message ready to send; `seq` is already the run's last delivered durable seq. */
export interface OutgoingProgress {
  runId: string;
  seq: number;
  text: string;
}

/** What the hub calls; must not throw and must not block (subscribers queue or drop on their own). */
export interface HubListener {
  onEvent(event: OutgoingEvent): void;
  onProgress(progress: OutgoingProgress): void;
  /** The hub is closing: end the stream. */
  onShutdown(): void;
}

/** A listener for many runs: all of them, or one sweep's. */
export interface MultiRunListener extends HubListener {
  readonly sweepId: string | null;
}

export interface StreamHubOptions {
  sql: postgres.Sql;
  /** Names this instance in relayed progress (so it ignores its own). */
  instanceId?: string;
  log?: Logger;
  /** Rows per catch-up query. */
  pageSize?: number;
  /** Relay workers' progress to other instances via NOTIFY (default true). */
  relayProgress?: boolean;
  /** How often the LISTEN connection is proven alive with a self-notification (default 5000 ms). */
  listenCheckMs?: number;
  /**
   * Makes a fresh client for each LISTEN (ended when that LISTEN is found dead). Without it the hub
   * listens through `sql`, whose postgres.js listen state does not survive an outage longer than its
   * one re-listen attempt (the failed re-listen stays behind and later listens join it).
   */
  listenClient?: () => postgres.Sql;
  /** How often the served runs' last_seq is re-read, for announcements that never came (default 2000 ms). */
  pollMs?: number;
  /** For tests: replace the readers. */
  readEvents?: ReadRunEvents;
  readInfo?: ReadRunInfo;
  readLastSeqs?: ReadLastSeqs;
}

export interface StreamHubStats {
  channels: number;
  runListeners: number;
  multiRunListeners: number;
  /** Events handed to listeners (once per run and seq). */
  delivered: number;
  /** ...of which first learned from a worker's socket. */
  fromWorker: number;
  /** Worker messages and notifications about a seq already delivered. */
  duplicates: number;
  notifications: number;
  /** Catch-up queries run. */
  reads: number;
  /** Times the LISTEN connection was (re)established. */
  listens: number;
}

interface Channel {
  runId: string;
  sweepId: string | null;
  delivered: number;
  isReady: boolean;
  ready: Promise<void>;
  terminal: boolean;
  listeners: Set<HubListener>;
  reading: boolean;
  readAgain: boolean;
  /** Progress whose worker had committed more than was delivered here yet: sent once it catches up. */
  heldProgress: ProgressMessage | null;
  retryTimer: ReturnType<typeof setTimeout> | null;
  /** Why the channel could not be set up (its run's row could not be read); it is forgotten then. */
  failure: Error | null;
}

/** How long a run's running attempt is trusted before progress for it is checked again. */
const ATTEMPT_CACHE_MS = 1000;
const READ_RETRY_MS = 1000;

export class StreamHub {
  readonly instanceId: string;
  readonly #sql: postgres.Sql;
  readonly #log: Logger;
  readonly #pageSize: number;
  readonly #relay: boolean;
  readonly #listenCheckMs: number;
  readonly #readEvents: ReadRunEvents;
  readonly #readInfo: ReadRunInfo;
  readonly #readLastSeqs: ReadLastSeqs;
  readonly #pollMs: number;
  #pollTimer: ReturnType<typeof setInterval> | null = null;
  #polling = false;
  readonly #channels = new Map<string, Channel>();
  readonly #multi = new Set<MultiRunListener>();
  readonly #unlisten: (() => Promise<void>)[] = [];
  readonly #newListenClient: (() => postgres.Sql) | null;
  #listenClient: postgres.Sql | null = null;
  /** Whether the last re-listen failed (one log line per outage, not one per check). */
  #listenFailing = false;
  #relayFailing = false;
  readonly #onClose = new Set<() => void>();
  /** Per run: its running attempt (null when not running), as read at `at`. */
  readonly #attempts = new Map<string, { at: number; attempt: Promise<number | null> }>();
  #checkTimer: ReturnType<typeof setInterval> | null = null;
  #pingSentAt = 0;
  #pingSeenAt = 0;
  #closed = false;
  #stats = { delivered: 0, fromWorker: 0, duplicates: 0, notifications: 0, reads: 0, listens: 0 };

  constructor(opts: StreamHubOptions) {
    this.#sql = opts.sql;
    this.instanceId = opts.instanceId ?? crypto.randomUUID();
    this.#log = opts.log ?? (() => {});
    this.#pageSize = opts.pageSize ?? 500;
    this.#relay = opts.relayProgress ?? true;
    this.#listenCheckMs = opts.listenCheckMs ?? 5000;
    this.#newListenClient = opts.listenClient ?? null;
    this.#readEvents = opts.readEvents ?? readRunEvents(opts.sql);
    this.#readInfo = opts.readInfo ?? readRunInfo(opts.sql);
    this.#readLastSeqs = opts.readLastSeqs ?? readLastSeqs(opts.sql);
    this.#pollMs = opts.pollMs ?? 2000;
  }

  /** Starts listening; resolves once the LISTEN is in place (events committed after this are seen). */
  async start(): Promise<void> {
    await this.#listen();
    this.#checkTimer = setInterval(() => void this.#checkListen(), this.#listenCheckMs);
    this.#pollTimer = setInterval(() => void this.#poll(), this.#pollMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#checkTimer !== null) clearInterval(this.#checkTimer);
    if (this.#pollTimer !== null) clearInterval(this.#pollTimer);
    for (const ch of this.#channels.values()) {
      if (ch.retryTimer !== null) clearTimeout(ch.retryTimer);
      for (const l of ch.listeners) safe(() => l.onShutdown());
    }
    for (const l of this.#multi) safe(() => l.onShutdown());
    for (const fn of this.#onClose) safe(fn);
    this.#onClose.clear();
    this.#channels.clear();
    this.#multi.clear();
    await this.#dropListen();
  }

  /** Runs `fn` when the hub closes (workers' sockets end then too); returns a function that unregisters it. */
  onClose(fn: () => void): () => void {
    this.#onClose.add(fn);
    return () => this.#onClose.delete(fn);
  }

  get closed(): boolean {
    return this.#closed;
  }

  stats(): StreamHubStats {
    let runListeners = 0;
    for (const ch of this.#channels.values()) runListeners += ch.listeners.size;
    return {
      channels: this.#channels.size,
      runListeners,
      multiRunListeners: this.#multi.size,
      ...this.#stats,
    };
  }

  subscriberCount(): number {
    const s = this.stats();
    return s.runListeners + s.multiRunListeners;
  }

  /**
   * Adds a listener for one run. Resolves once the run's channel knows where it stands: every event
   * with seq > the returned `delivered` will reach the listener, and every event ≤ it was committed
   * before this call resolved (so a replay started now finds it in the table).
   */
  async subscribeRun(
    runId: string,
    listener: HubListener,
  ): Promise<{ delivered: number; unsubscribe: () => void }> {
    if (this.#closed) throw new Error("the stream hub is closed");
    const ch = this.#channel(runId, null);
    ch.listeners.add(listener);
    await ch.ready;
    if (ch.failure !== null) throw ch.failure;
    return {
      delivered: ch.delivered,
      unsubscribe: () => {
        ch.listeners.delete(listener);
        this.#maybeForget(ch);
      },
    };
  }

  /** Adds a listener for every run (sweepId null) or one sweep's runs, from now on. */
  subscribeMany(listener: MultiRunListener): () => void {
    if (this.#closed) throw new Error("the stream hub is closed");
    this.#multi.add(listener);
    return () => {
      this.#multi.delete(listener);
      if (this.#multi.size === 0) { for (const ch of [...this.#channels.values()]) this.#maybeForget(ch); }
    };
  }

  /**
   * A message from a worker's socket. Durable events must already be committed (the worker sends after
   * its fenced write returned the seq). Never throws, never waits: workers are never slowed by streams.
   */
  fromWorker(msg: WorkerMessage): void {
    if (this.#closed) return;
    if (msg.type === "progress") {
      void this.#leaseHolds(msg.runId, msg.attempt).then((holds) => {
        if (!holds || this.#closed) return;
        this.#progress(msg);
        if (!this.#relay) return;
        const payload = JSON.stringify({ from: this.instanceId, message: msg });
        // During an outage every progress message would fail: say so once, until one gets through. It
        // commits without waiting for the disk (it stores nothing): a NOTIFY holds a cluster-wide lock
        // until its commit is flushed, and the workers' announcements queue for the same lock.
        this.#sql`select set_config('synchronous_commit', 'off', true), pg_notify(${RUN_PROGRESS_CHANNEL}, ${payload})`
          .then(() => (this.#relayFailing = false), (e: Error) => {
            if (!this.#relayFailing) this.#log("warn", "could not relay progress", { runId: msg.runId, error: e.message });
            this.#relayFailing = true;
          });
      });
      return;
    }
    const { runId, seq } = msg;
    const ch = this.#channels.get(runId) ??
      (this.#multi.size > 0 ? this.#channel(runId, seq - 1) : undefined);
    if (ch === undefined) return;
    if (seq <= ch.delivered) {
      this.#stats.duplicates++;
      return;
    }
    // Read what is stored now rather than trusting the message (see the top of this file).
    this.#stats.fromWorker++;
    void this.#catchUp(ch);
  }

  // --- channels -------------------------------------------------------------------------------------

  /** The run's channel, created if needed; `baseline` null means "from the run's current last_seq". */
  #channel(runId: string, baseline: number | null): Channel {
    const existing = this.#channels.get(runId);
    if (existing !== undefined) return existing;
    const ch: Channel = {
      runId,
      sweepId: null,
      delivered: baseline ?? 0,
      isReady: false,
      ready: Promise.resolve(),
      terminal: false,
      listeners: new Set(),
      reading: false,
      readAgain: false,
      heldProgress: null,
      retryTimer: null,
      failure: null,
    };
    ch.ready = this.#readInfo(runId).then(
      (info) => {
        ch.sweepId = info?.sweepId ?? null;
        if (baseline === null) ch.delivered = info?.lastSeq ?? 0;
        ch.terminal = info !== null && isTerminalState(info.state) && ch.delivered >= info.lastSeq;
        ch.isReady = true;
      },
      (e: Error) => {
        // Without its baseline the channel cannot order anything: forget it; a subscriber sees the error,
        // and the next notification or worker message makes a new one.
        ch.failure = e;
        if (this.#channels.get(runId) === ch) this.#channels.delete(runId);
        this.#log("warn", "could not read the run for its stream", { runId, error: e.message });
      },
    );
    this.#channels.set(runId, ch);
    return ch;
  }

  #maybeForget(ch: Channel): void {
    if (ch.listeners.size > 0) return;
    if (this.#multi.size > 0 && !ch.terminal) return;
    if (this.#channels.get(ch.runId) !== ch) return;
    if (ch.retryTimer !== null) clearTimeout(ch.retryTimer);
    this.#channels.delete(ch.runId);
  }

  #deliver(ch: Channel, event: OutgoingEvent): void {
    ch.delivered = event.seq;
    this.#stats.delivered++;
    if (event.terminal) ch.terminal = true;
    for (const l of ch.listeners) safe(() => l.onEvent(event));
    for (const l of this.#multi) {
      if (l.sweepId === null || l.sweepId === ch.sweepId) safe(() => l.onEvent(event));
    }
    const held = ch.heldProgress;
    if (held !== null && held.seq <= ch.delivered) {
      ch.heldProgress = null;
      this.#fanOutProgress(ch, held);
    }
    if (event.terminal) this.#maybeForget(ch);
  }

  /**
   * Reads every stored event after `delivered` and hands them out. One reader per channel; a trigger
   * during a read makes it read once more.
   */
  async #catchUp(ch: Channel): Promise<void> {
    if (ch.reading) {
      ch.readAgain = true;
      return;
    }
    ch.reading = true;
    try {
      await ch.ready;
      if (ch.failure !== null) return;
      do {
        ch.readAgain = false;
        for (;;) {
          this.#stats.reads++;
          const page = await this.#readEvents(ch.runId, ch.delivered, this.#pageSize);
          // A row at or below `delivered` can only come from a worker message handed out meanwhile.
          for (const event of page) if (event.seq > ch.delivered) this.#deliver(ch, event);
          if (page.length < this.#pageSize || this.#closed) break;
        }
      } while (ch.readAgain && !this.#closed);
      const held = ch.heldProgress;
      if (held !== null) {
        // Everything committed is out and the worker still claims a later seq: trust the table.
        ch.heldProgress = null;
        this.#fanOutProgress(ch, { ...held, seq: ch.delivered });
      }
    } catch (e) {
      this.#log("warn", "could not read run events; retrying", {
        runId: ch.runId,
        error: (e as Error).message,
      });
      this.#retryLater(ch);
    } finally {
      ch.reading = false;
      this.#maybeForget(ch);
    }
  }

  /**
   * The backstop for an announcement that never came (its writer died between commit and NOTIFY): one
   * primary-key lookup per served run that has not ended, and a catch-up of those that moved.
   */
  async #poll(): Promise<void> {
    if (this.#closed || this.#polling) return;
    const open = [...this.#channels.values()].filter((ch) => ch.isReady && !ch.terminal && !ch.reading);
    if (open.length === 0) return;
    this.#polling = true;
    try {
      for (const { runId, lastSeq } of await this.#readLastSeqs(open.map((ch) => ch.runId))) {
        const ch = this.#channels.get(runId);
        if (ch !== undefined && lastSeq > ch.delivered) void this.#catchUp(ch);
      }
    } catch (e) {
      this.#log("warn", "could not re-read the served runs", { error: (e as Error).message });
    } finally {
      this.#polling = false;
    }
  }

  #retryLater(ch: Channel): void {
    if (ch.retryTimer !== null || this.#closed) return;
    ch.retryTimer = setTimeout(() => {
      ch.retryTimer = null;
      if (this.#channels.get(ch.runId) === ch) void this.#catchUp(ch);
    }, READ_RETRY_MS);
  }

  /**
   * Whether `runId` is running `attempt` now, by its row, read at most once a second per run (progress
   * comes every few batches; a stale answer for a second costs nothing that matters).
   */
  async #leaseHolds(runId: string, attempt: number): Promise<boolean> {
    const now = Date.now();
    let known = this.#attempts.get(runId);
    if (known === undefined || now - known.at > ATTEMPT_CACHE_MS) {
      if (this.#attempts.size > 10_000) {
        for (const [id, k] of this.#attempts) if (now - k.at > ATTEMPT_CACHE_MS) this.#attempts.delete(id);
      }
      const row = this.#sql<{ state: string; attempt: number }[]>`
        select state, attempt from runs where id = ${runId}`.then(([r]) => r?.state === "running" ? r.attempt : null);
      known = { at: now, attempt: row };
      this.#attempts.set(runId, known);
    }
    try {
      return (await known.attempt) === attempt;
    } catch {
      this.#attempts.delete(runId);
      return false;
    }
  }

  // --- progress -------------------------------------------------------------------------------------

  #progress(msg: ProgressMessage): void {
    let ch = this.#channels.get(msg.runId);
    if (ch === undefined) {
      if (this.#multi.size === 0) return;
      ch = this.#channel(msg.runId, null);
    }
    if (!ch.isReady || msg.seq > ch.delivered) {
      // The worker has committed events this instance has not handed out yet: progress must not
      // overtake them. Keep the latest, send it once they are out.
      ch.heldProgress = msg;
      void this.#catchUp(ch);
      return;
    }
    this.#fanOutProgress(ch, msg);
  }

  #fanOutProgress(ch: Channel, msg: ProgressMessage): void {
    const seq = Math.max(msg.seq, ch.delivered);
    const progress: OutgoingProgress = { runId: ch.runId, seq, text: JSON.stringify({ ...msg, seq }) };
    for (const l of ch.listeners) safe(() => l.onProgress(progress));
    for (const l of this.#multi) {
      if (l.sweepId === null || l.sweepId === ch.sweepId) safe(() => l.onProgress(progress));
    }
  }

  // --- LISTEN ---------------------------------------------------------------------------------------

  async #listen(): Promise<void> {
    const onListen = () => {
      this.#stats.listens++;
      // Anything committed while we were not listening is in the table: read every run again.
      for (const ch of this.#channels.values()) void this.#catchUp(ch);
    };
    const client = this.#newListenClient?.() ?? this.#sql;
    this.#listenClient = client;
    const handles = await Promise.all([
      client.listen(RUN_EVENTS_CHANNEL, (p) => this.#onNotify(p), onListen),
      client.listen(RUN_PROGRESS_CHANNEL, (p) => this.#onRelayedProgress(p)),
      client.listen(HUB_PING_CHANNEL, (p) => {
        if (p === this.instanceId) this.#pingSeenAt = Date.now();
      }),
    ]);
    this.#unlisten.push(...handles.map((h) => h.unlisten));
    this.#pingSeenAt = Date.now();
  }

  /** Stops listening: ends the LISTEN's own client, or unlistens on the shared one. */
  async #dropListen(): Promise<void> {
    const handles = this.#unlisten.splice(0);
    const client = this.#listenClient;
    this.#listenClient = null;
    if (client !== null && client !== this.#sql) await client.end({ timeout: 0 }).catch(() => {});
    else await Promise.all(handles.map((u) => u().catch(() => {})));
  }

  /**
   * postgres.js re-listens after its connection drops, but gives up for good if Postgres is down at
   * that moment. A self-addressed ping that does not come back means the LISTEN is gone: listen anew,
   * every check until it works (an outage may last long).
   */
  async #checkListen(): Promise<void> {
    if (this.#closed) return;
    if (this.#pingSentAt > 0 && this.#pingSeenAt < this.#pingSentAt) {
      if (!this.#listenFailing) this.#log("warn", "LISTEN connection lost; listening again", { instanceId: this.instanceId });
      await this.#dropListen();
      try {
        await this.#listen();
      } catch (e) {
        await this.#dropListen();
        if (!this.#listenFailing) this.#log("warn", "could not listen; retrying every check", { error: (e as Error).message });
        this.#listenFailing = true;
        return;
      }
      if (this.#listenFailing) this.#log("info", "listening again", { instanceId: this.instanceId });
      this.#listenFailing = false;
    }
    this.#pingSentAt = Date.now();
    await this.#sql.notify(HUB_PING_CHANNEL, this.instanceId).catch(() => {});
  }

  #onNotify(payload: string): void {
    if (this.#closed) return;
    this.#stats.notifications++;
    let runId: unknown, seq: unknown;
    try {
      ({ runId, seq } = JSON.parse(payload));
    } catch {
      return;
    }
    if (typeof runId !== "string" || typeof seq !== "number") return;
    const ch = this.#channels.get(runId) ??
      (this.#multi.size > 0 ? this.#channel(runId, seq - 1) : undefined);
    if (ch === undefined) return;
    if (seq <= ch.delivered && ch.isReady) {
      this.#stats.duplicates++;
      return;
    }
    void this.#catchUp(ch);
  }

  #onRelayedProgress(payload: string): void {
    if (this.#closed) return;
    try {
      const { from, message } = JSON.parse(payload);
      if (from === this.instanceId) return;
      const parsed = progressMessageSchema.safeParse(message);
      if (parsed.success) this.#progress(parsed.data);
    } catch {
      // Not ours to judge: someone else's payload on the channel.
    }
  }
}

function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's failure is its own (it closes its stream); it must not stop the others.
  }
}
