import type { TestDatabase } from "./test-database.ts";

/**
 * Transactions committed in the test's database so far, as Postgres counts them (pg_stat_database).
 * A backend reports its counts when it has been idle a while (up to 10 s) or when it exits: stop the
 * processes whose statements are counted before the last reading.
 *
 * @example
 * const x0 = await committedTransactions(db);
 * // ... run the workers, stop them ...
 * const perRun = ((await committedTransactions(db)) - x0) / RUNS;
 */
export async function committedTransactions(db: TestDatabase): Promise<number> {
  const name = new URL(db.url).pathname.slice(1);
  await db.sql`select pg_stat_clear_snapshot()`;
  const [r] = await db.sql<{ n: number }[]>`select xact_commit::float8 as n from pg_stat_database where datname = ${name}`;
  return r!.n;
}
