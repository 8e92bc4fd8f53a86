import path from "node:path";
import postgres from "postgres";
import { type RunningPostgres, startEmbeddedPostgres } from "../../service/embedded-postgres.ts";

/**
 * A fresh embedded Postgres in `dir/pg` whose max_connections is `maxConnections` (a setting that takes
 * a restart), for the benchmarks and the tests that count connections. Its stop removes the cluster
 * wherever it was placed (as root, outside `dir`) and its secret.
 *
 * @example
 * const pg = await startSizedPostgres(dir, await freePort(), 300);
 */
export async function startSizedPostgres(dir: string, port: number, maxConnections: number): Promise<RunningPostgres> {
  const first = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), port });
  const admin = postgres(first.url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`alter system set max_connections = ${Number(maxConnections)}`);
  } finally {
    await admin.end();
    await first.stop();
  }
  return await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), port, ephemeral: true });
}
