import postgres from "postgres";
import { CHANNELS } from "../../shared/queue/channels.ts";
import type { LineLog } from "../../shared/logger.ts";
import { OutageLog } from "../../shared/outage-log.ts";

export interface WakeupHandlers {
  /** A run became claimable. */
  onQueued(): void;
  /** A running run was asked to cancel. */
  onCancel(runId: string): void;
  /**
   * The connection (re)started listening. Notifications sent while it was down or not listening are
   * lost, so the worker should look for work and renew (which re-reads the cancel flag) now.
   */
  onListening(): void;
}

export interface WakeupListenerOptions {
  url: string;
  /** Seconds between health checks (a `select 1` on the listening connection). */
  checkS: number;
  applicationName: string;
  log: LineLog;
}

const LISTEN = `listen ${CHANNELS.runsQueued}; listen ${CHANNELS.runCancel}`;

/**
 * The worker's dedicated LISTEN connection, health-checked and rebuilt when it fails. postgres.js's own
 * `listen()` re-listens after a close but gives up silently if that reconnect fails, so the worker would
 * never hear another notification; here a failed check or a close tears the connection down and
 * retries with backoff until it listens again. Polling in the worker loop covers the gaps.
 *
 * The connection stays open, but it listens only while {@link want} says so: Postgres (18) wakes every
 * listening backend of the database for every NOTIFY on any channel, and each woken backend reads the
 * notification queue in a transaction of its own. Every claim, epoch and completion announces an
 * event, so a fleet of listening workers costs the database a transaction per worker per event (58 per
 * run at 20 workers, measured). The worker loop listens while idle and once a run has lasted a moment.
 */
export class WakeupListener {
  #sql: postgres.Sql | null = null;
  #generation = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /** Whether the owner wants to listen now (the connection follows it, and takes it up on reconnect). */
  #wanted = true;
  /** Connected (the health check and want() may use #sql). */
  #connected = false;
  /** What the last statement sent on this connection asked for (LISTEN: true). */
  #sent = false;
  #retryMs = 100;
  #reconnecting = false;
  /** One line when the connection is lost and one when it is back, not one per retry (shared/outage-log.ts). */
  readonly #outage: OutageLog;

  constructor(private readonly opts: WakeupListenerOptions, private readonly handlers: WakeupHandlers) {
    this.#outage = new OutageLog(opts.log);
  }

  /** Whether listening is wanted now (whatever the connection's state). */
  get wanted(): boolean {
    return this.#wanted;
  }

  /**
   * Listen (true) or stop listening (false) on the open connection. Resolves once the change is in
   * effect, or at once when the connection is down (a reconnect applies the latest wish). Starting to
   * listen calls `onListening`: whatever was announced before is unheard. Never throws: a failed
   * statement means a failing connection, which the close handler or the health check rebuilds.
   */
  async want(listen: boolean): Promise<void> {
    if (this.#wanted === listen) return;
    this.#wanted = listen;
    await this.#apply();
  }

  /** Sends LISTEN or UNLISTEN when the connection's last one differs from the wish. */
  async #apply(): Promise<void> {
    const sql = this.#sql;
    const listen = this.#wanted;
    if (!sql || !this.#connected || this.#sent === listen) return;
    this.#sent = listen;
    const generation = this.#generation;
    try {
      // One connection runs its statements in order, so the last one sent is the one in effect.
      await sql.unsafe(listen ? LISTEN : "unlisten *");
    } catch {
      return;
    }
    if (generation !== this.#generation || this.#sent !== listen) return;
    if (listen) this.handlers.onListening();
  }

  async start(): Promise<void> {
    await this.#connect();
    this.#timer = setInterval(() => void this.#check(), this.opts.checkS * 1000);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#teardown();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const generation = ++this.#generation;
    // `onnotify` is a postgres.js option its typings omit (its own listen() uses it).
    const options: postgres.Options<{}> & { onnotify: (channel: string, payload: string) => void } = {
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      fetch_types: false,
      onnotice: () => {},
      connection: { application_name: this.opts.applicationName },
      onnotify: (channel: string, payload: string) => {
        if (channel === CHANNELS.runsQueued) this.handlers.onQueued();
        else if (channel === CHANNELS.runCancel) this.handlers.onCancel(payload);
      },
      onclose: () => {
        if (generation === this.#generation) void this.#reconnect("connection closed");
      },
    };
    const sql = postgres(this.opts.url, options);
    this.#sql = sql;
    try {
      const listen = this.#wanted;
      await sql.unsafe(listen ? LISTEN : "select 1");
      if (generation !== this.#generation) return;
      this.#connected = true;
      this.#sent = listen;
      this.#retryMs = 100;
      this.#outage.up((s) => `LISTEN connection back (after ${s} s)`);
      if (listen) this.handlers.onListening();
      // The wish may have changed while this connected.
      await this.#apply();
    } catch (e) {
      if (generation === this.#generation) await this.#reconnect(`listen failed: ${(e as Error).message}`);
    }
  }

  async #reconnect(why: string): Promise<void> {
    if (this.#closed || this.#reconnecting) return;
    this.#reconnecting = true;
    try {
      this.#outage.down(`LISTEN connection lost (${why}); reconnecting with backoff (polling meanwhile)`);
      await this.#teardown();
      const delay = this.#retryMs;
      this.#retryMs = Math.min(5000, this.#retryMs * 2);
      await new Promise((r) => setTimeout(r, delay));
    } finally {
      this.#reconnecting = false;
    }
    await this.#connect();
  }

  async #teardown(): Promise<void> {
    const sql = this.#sql;
    this.#sql = null;
    this.#generation++;
    this.#connected = false;
    this.#sent = false;
    if (sql) await sql.end({ timeout: 0 }).catch(() => {});
  }

  /** A listening connection that silently died (half-open TCP) is only found by using it. */
  async #check(): Promise<void> {
    const sql = this.#sql;
    if (!sql || !this.#connected) return;
    const generation = this.#generation;
    const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), this.opts.checkS * 1000).unref());
    const result = await Promise.race([sql`select 1`.then(() => "ok" as const, () => "error" as const), timeout]);
    if (result !== "ok" && generation === this.#generation) await this.#reconnect(`health check: ${result}`);
  }
}
