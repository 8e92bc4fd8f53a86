/**
 * One log line when something stops answering and one when it answers again, with how long it was
 * away, instead of a line per retry: an outage (a database restarting, a connection lost) is expected
 * to end, and a worker retries many times a second meanwhile.
 *
 * @example
 * ```ts
 * const outage = new OutageLog(log);
 * outage.down(`the database cannot be reached (${e.message}); retrying until it answers`); // logged (warn)
 * outage.down("…");                                                                          // not logged
 * outage.up((s) => `the database answers again (after ${s} s)`);                             // logged (info)
 * ```
 */
import type { LineLog } from "./logger.ts";

export class OutageLog {
  #since: number | null = null;

  /** `now`: milliseconds on a clock that only moves forward in this thread (Date.now by default). */
  constructor(private readonly log: LineLog, private readonly now: () => number = Date.now) {}

  /** Whether an outage is going on (its first failure was seen and no answer since). */
  get ongoing(): boolean {
    return this.#since !== null;
  }

  /** A failure: the first of an outage is logged as a warning, later ones are not. */
  down(line: string): void {
    if (this.#since !== null) return;
    this.#since = this.now();
    this.log(line, "warn");
  }

  /** An answer: ends an outage, logging `line` with the seconds it lasted (one decimal); else nothing. */
  up(line: (seconds: string) => string): void {
    if (this.#since === null) return;
    const seconds = ((this.now() - this.#since) / 1000).toFixed(1);
    this.#since = null;
    this.log(line(seconds));
  }
}
