/**
 * postgres.js options for a connection whose DATABASE_URL goes through a transaction-mode pooler
 * (PgBouncer), which the URL says with `prepare=false` (README, "Scaling out"): one statement at a time.
 *
 * Why: postgres.js pipelines statements on a connection (it sends the next before the previous one is
 * answered). PgBouncer 1.18 (Debian's) in transaction mode gives the server connection back to its pool
 * at the first answer, and the answers to the statements pipelined behind it never arrive: the client
 * waits forever. Side by side through one PgBouncer (pool 4, 100 clients of `max: 1`, each sending a
 * fire-and-forget statement ahead of an awaited one): 100 of 100 clients hung with pipelining, none with
 * `max_pipeline: 0`, none directly against Postgres. In the worker this showed as a claim whose answer
 * never came (the run sat claimed until its lease ran out) or a drain that never finished. A
 * `max_pipeline` written in the URL wins.
 *
 * @example
 * const sql = postgres(url, { max: 1, ...transactionPoolerOptions(url) });
 */
export function transactionPoolerOptions(url: string): { max_pipeline?: number } {
  return throughTransactionPooler(url) && !hasParam(url, "max_pipeline") ? { max_pipeline: 0 } : {};
}

/** True when the URL turns prepared statements off, the README's mark of a transaction pooler. */
export function throughTransactionPooler(url: string): boolean {
  const value = param(url, "prepare");
  return value === "false" || value === "disable";
}

function hasParam(url: string, name: string): boolean {
  return param(url, name) !== null;
}

function param(url: string, name: string): string | null {
  try {
    return new URL(url).searchParams.get(name);
  } catch {
    return null; // not a URL (config validation reports that); nothing to add
  }
}
