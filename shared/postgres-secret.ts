/**
 * The embedded cluster's superuser password: random per cluster, made at `initdb` (or when an older
 * cluster that still had the public password `postgres` first starts), kept only in a 0600 file beside
 * the cluster (`DATA_DIR/postgres-password`). Whoever can read that file is the cluster's superuser, so
 * it is never printed, derived from anything public, or put where another local user can read it.
 *
 * @example
 * ```ts
 * const url = await embeddedDatabaseUrl(".data", 54329, "resnet_jobs");
 * // "postgres://postgres:<secret>@127.0.0.1:54329/resnet_jobs"
 * ```
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";

/** The file name of the secret inside DATA_DIR. */
const POSTGRES_SECRET_FILE = "postgres-password";

/** Where the secret of the cluster in `DATA_DIR/postgres` lives. */
export function postgresSecretPath(dataDir: string): string {
  return path.join(path.resolve(dataDir), POSTGRES_SECRET_FILE);
}

/** The stored secret, or null when there is none yet. */
export async function readPostgresSecret(file: string): Promise<string | null> {
  const text = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return null;
    throw e;
  });
  const secret = text?.trim() ?? "";
  return secret === "" ? null : secret;
}

/** A new secret: 32 random bytes as hex (URL- and SQL-literal-safe). */
export function newPostgresSecret(): string {
  return randomBytes(32).toString("hex");
}

/** Writes the secret 0600, atomically (a crash never leaves a half-written file). */
export async function writePostgresSecret(file: string, secret: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${secret}\n`, { mode: 0o600 });
  await rename(tmp, file);
}

/** No secret on file: the cluster was never started here (the message says where it looked). */
export class MissingSecretError extends Error {
  override name = "MissingSecretError";
}

/** The superuser URL of `database` on the embedded cluster that `npm start` keeps in `dataDir`. */
export async function embeddedDatabaseUrl(dataDir: string, port: number, database: string): Promise<string> {
  const file = postgresSecretPath(dataDir);
  const secret = await readPostgresSecret(file);
  if (secret === null) {
    throw new MissingSecretError(`no Postgres password in ${file}: has \`npm start\` created its cluster in this DATA_DIR yet?`);
  }
  return `postgres://postgres:${secret}@127.0.0.1:${port}/${database}`;
}
