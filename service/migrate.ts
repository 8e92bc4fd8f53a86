import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";

/** Arbitrary but fixed: every process that migrates takes this lock first. */
const MIGRATION_LOCK_KEY = 7_370_000_001;
const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));

/**
 * Applies every pending migration in `migrations/` under a session advisory lock, so two processes
 * starting at once cannot race: the second waits, then finds nothing left to do.
 */
export async function migrateDatabase(url: string): Promise<void> {
  // One connection: the advisory lock and the migration must share a session.
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_DIR });
    await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
  } finally {
    await sql.end();
  }
}
