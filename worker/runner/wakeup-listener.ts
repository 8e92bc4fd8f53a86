import postgres from "postgres";
import { CHANNELS } from "../../shared/queue/channels.ts";

export interface WakeupHandlers {
  /** A run became claimable. */
  onQueued(): void;
  /** A running run was asked to cancel. */
  onCancel(runId: string): void;
  /**
   * The connection was (re)established and is listening. Notifications sent while it was down are lost,
   * so the worker should look for work and renew (which re-reads the cancel flag) now.
   */
  onListening(): void;
}

export interface WakeupListenerOptions {
  url: string;
  /** Seconds between health checks (a `select 1` on the listening connection). */
  checkS: number;
  applicationName: string;
  log: (line: string) => void;
}

/**
 * The worker's dedicated LISTEN connection, health-checked and rebuilt when it fails. postgres.js's own
 * `listen()` re-listens after a close but gives up silently if that reconnect fails, so the worker would
 * never hear another notification; here a failed check or a close tears the connection down and
 * retries with backoff until it listens again. Polling in the worker loop covers the gaps.
 */
export class WakeupListener {
  #sql: postgres.Sql | null = null;
  #generation = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #listening = false;
  #retryMs = 100;
  #reconnecting = false;
  /** When the connection was lost (null: listening, or never lost): one line per outage, not per retry. */
  #lostSince: number | null = null;

  constructor(private readonly opts: WakeupListenerOptions, private readonly handlers: WakeupHandlers) {}

  get listening(): boolean {
    return this.#listening;
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
      await sql.unsafe(`listen ${CHANNELS.runsQueued}; listen ${CHANNELS.runCancel}`);
      if (generation !== this.#generation) return;
      this.#listening = true;
      this.#retryMs = 100;
      if (this.#lostSince !== null) {
        this.opts.log(`LISTEN connection back (after ${((Date.now() - this.#lostSince) / 1000).toFixed(1)} s)`);
        this.#lostSince = null;
      }
      this.handlers.onListening();
    } catch (e) {
      if (generation === this.#generation) await this.#reconnect(`listen failed: ${(e as Error).message}`);
    }
  }

  async #reconnect(why: string): Promise<void> {
    if (this.#closed || this.#reconnecting) return;
    this.#reconnecting = true;
    try {
      this.#listening = false;
      if (this.#lostSince === null) {
        this.#lostSince = Date.now();
        this.opts.log(`LISTEN connection lost (${why}); reconnecting with backoff (polling meanwhile)`);
      }
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
    if (sql) await sql.end({ timeout: 0 }).catch(() => {});
  }

  /** A listening connection that silently died (half-open TCP) is only found by using it. */
  async #check(): Promise<void> {
    const sql = this.#sql;
    if (!sql || !this.#listening) return;
    const generation = this.#generation;
    const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), this.opts.checkS * 1000).unref());
    const result = await Promise.race([sql`select 1`.then(() => "ok" as const, () => "error" as const), timeout]);
    if (result !== "ok" && generation === this.#generation) await this.#reconnect(`health check: ${result}`);
  }
}
