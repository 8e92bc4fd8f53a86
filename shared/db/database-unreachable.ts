/**
 * Whether an error from postgres.js means "the database could not be reached or went away" (an outage:
 * a restart, a failover, a network cut) rather than "the database answered no" (a constraint, a fenced
 * write that matched nothing, bad SQL). The first kind is retried once the server is back; the second is
 * an answer. A statement that failed this way may or may not have committed: a retry must be safe to
 * repeat, or first look whether the first try landed.
 *
 * @example
 * try { await sql`select 1`; } catch (e) { if (isDatabaseUnreachable(e)) await sleep(500); else throw e; }
 */
export function isDatabaseUnreachable(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  // postgres.js's own connection errors, and the socket's.
  if (CLIENT_CODES.has(code)) return true;
  // SQLSTATE: class 08 connection exception; 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
  // connect now (starting up, in recovery); 53300 too many connections (clients reconnecting at once).
  return /^08[0-9A-Z]{3}$/.test(code) || code === "57P01" || code === "57P02" || code === "57P03" || code === "53300";
}

const CLIENT_CODES = new Set([
  "CONNECTION_CLOSED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT",
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND",
  "EAI_AGAIN", "ECONNABORTED",
]);

/**
 * postgres.js's `backoff` option for clients that must find the database again soon after an outage.
 * Its default waits 3^n/100 s (jittered, up to 20 s) before the n-th connection attempt in a row, so
 * after a few seconds of outage a client answers 10–20 s after the server is back; this one waits
 * 0.05 s doubling to 1–2 s (jittered, so a fleet of workers does not reconnect in step).
 *
 * @example
 * const sql = postgres(url, { backoff: reconnectBackoffS });
 */
export function reconnectBackoffS(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.1 * 2 ** retries, 2);
}
