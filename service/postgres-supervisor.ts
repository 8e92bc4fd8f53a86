import type { RunningPostgres } from "./embedded-postgres.ts";
import type { LineLog } from "../shared/logger.ts";
import { HEALTHY_AFTER_MS, restartDelayMs } from "./supervisor.ts";

export interface PostgresSupervisorOptions {
  log: LineLog;
  /** Restarts tried in a row (each failed start, or a crash soon after one) before giving up. */
  maxRestarts?: number;
  /** Postgres could not be brought back: the service must stop (with a non-zero exit). */
  onGiveUp: (message: string) => void;
  /** The wait before restart number n (0-based); default the supervisor's 1 s doubling to 30 s. */
  delayMs?: (restarts: number) => number;
}

/**
 * Keeps the embedded Postgres running the way {@link Supervisor} keeps the API and the workers: when
 * the postmaster exits (kill -9, an OOM kill, a PANIC) it says so in one line and starts it again with
 * backoff; Postgres replays its WAL (crash recovery) and the clients reconnect by themselves. A server
 * that will not come back (a full disk, a damaged data directory) is given up on after `maxRestarts`
 * tries in a row, with the last error, so `npm start` exits non-zero instead of serving 503s forever.
 *
 * @example
 * const keeper = new PostgresSupervisor(server, { log, onGiveUp: (m) => void shutdown(m, 1) });
 * keeper.start();
 * await keeper.stop(); // stops watching, then stops the server
 */
export class PostgresSupervisor {
  #stopping = false;
  #restarts = 0;
  #timer: NodeJS.Timeout | null = null;
  #wakeStop: (() => void) | null = null;
  #restarting: Promise<void> | null = null;

  constructor(private readonly server: RunningPostgres, private readonly o: PostgresSupervisorOptions) {}

  start(): void {
    void this.#watch();
  }

  /** Whether the server is running now (false during an outage). */
  get up(): boolean {
    return this.server.pid() !== undefined;
  }

  /**
   * No more restarts (the service is stopping: its workers drain against the server if it is up, and
   * must not wait for one that is down). A restart already under way goes on.
   */
  stopRestarting(): void {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#wakeStop?.();
  }

  /** Stops restarting (a restart under way is awaited) and stops the server if it runs. */
  async stop(): Promise<void> {
    this.stopRestarting();
    await this.#restarting?.catch(() => {});
    await this.server.stop();
  }

  async #watch(): Promise<void> {
    let upSince = Date.now();
    for (;;) {
      const how = await this.server.exited();
      if (this.#stopping) return;
      const downAt = Date.now();
      if (downAt - upSince > HEALTHY_AFTER_MS) this.#restarts = 0;
      let lastError = `it exited (${how})`;
      for (;;) {
        const max = this.o.maxRestarts ?? 5;
        if (this.#restarts >= max) {
          this.o.onGiveUp(`postgres: could not restart the embedded server after ${max} tries (${lastError}); stopping`);
          return;
        }
        const delay = (this.o.delayMs ?? restartDelayMs)(this.#restarts++);
        if (lastError.startsWith("it exited")) {
          this.o.log(`postgres: the embedded server exited (${how}); restarting it in ${delay / 1000} s (crash recovery)`, "warn");
        }
        await new Promise<void>((resolve) => {
          this.#timer = setTimeout(resolve, delay);
          this.#wakeStop = resolve;
        });
        if (this.#stopping) return;
        try {
          this.#restarting = this.server.restart();
          await this.#restarting;
          break;
        } catch (e) {
          if (this.#stopping) return;
          lastError = (e as Error).message.trim().replace(/\s*\n\s*/g, " | ");
          this.o.log(`postgres: restart failed: ${lastError}`, "error");
        }
      }
      if (this.#stopping) return;
      upSince = Date.now();
      this.o.log(`postgres: back after ${((upSince - downAt) / 1000).toFixed(1)} s (pid ${this.server.pid()})`);
    }
  }
}
