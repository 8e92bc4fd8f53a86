import path from "node:path";
import postgres from "postgres";
import type { Config } from "../shared/config.ts";
import { type RunningPostgres, startEmbeddedPostgres } from "./embedded-postgres.ts";
import { migrateDatabase } from "./migrate.ts";
import type { LineLog } from "../shared/logger.ts";

export interface Database {
  /** URL of the application database, migrated and ready. */
  url: string;
  /** Whether this process started the server (and so must stop it). */
  embedded: boolean;
  /** The embedded server, to supervise (null with DATABASE_URL). */
  server: RunningPostgres | null;
  close(): Promise<void>;
}

export const APP_DATABASE = "resnet_jobs";

/**
 * Opens the service's database: the server at DATABASE_URL, or else an embedded Postgres kept in
 * DATA_DIR/postgres; then applies pending migrations (under an advisory lock).
 */
export async function openDatabase(config: Config, log: LineLog): Promise<Database> {
  if (config.DATABASE_URL !== undefined) {
    await migrateDatabase(config.DATABASE_URL);
    return { url: config.DATABASE_URL, embedded: false, server: null, close: async () => {} };
  }
  const dataDir = path.resolve(config.DATA_DIR, "postgres");
  log(`starting embedded Postgres in ${dataDir} on port ${config.PG_PORT}`);
  const server = await startEmbeddedPostgres({ dataDir, port: config.PG_PORT, log: quietLog(log) });
  try {
    const url = await ensureDatabase(server.url, APP_DATABASE);
    await migrateDatabase(url);
    return { url, embedded: true, server, close: () => server.stop() };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

/** Creates `name` on the server if it does not exist; returns its URL. */
export async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql`select 1 as found from pg_database where datname = ${name}`;
    if (row === undefined) await sql.unsafe(`create database "${name}"`);
  } finally {
    await sql.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Postgres's own chatter goes to the log only when it says something is wrong. What it says to clients
 * during a supervised restart (their connections cut, refused while it recovers) is expected: the
 * supervisor's own line says it once.
 */
function quietLog(log: LineLog): (line: string) => void {
  const expected = /unexpected postmaster exit|the database system is (starting up|shutting down|in recovery mode|not yet accepting)/;
  return (line) => {
    if (expected.test(line)) return;
    if (/ERROR|FATAL|PANIC/.test(line)) log(`postgres: ${line}`, "warn");
    else if (/removing stale|cluster lives in|rotated the public|copying the Postgres/.test(line)) log(`postgres: ${line}`);
  };
}
