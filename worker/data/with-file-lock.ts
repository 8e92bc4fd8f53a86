/**
 * A lock between processes on one machine (or one shared folder): an exclusive create of a lock file
 * (`open(path, "wx")`, atomic on every local file system and on NFSv3+), held while `fn` runs. Used so
 * that workers sharing a machine download a data set once, and test files unpack the npm Chromium once.
 *
 * A lock is stale, and is taken over, when its holder is gone: the file names a process on this host
 * that no longer exists, or the holder stopped refreshing its mtime (it refreshes every `staleMs / 4`,
 * so a holder on another host, or one whose pid was reused, is judged by time). A waiter polls, and is
 * told once (`onWait`) who it waits for.
 *
 * @example
 * await withFileLock(join(dir, ".fetch.lock"), () => download(dir), { onWait: (h) => log(`waiting for ${h}`) });
 */
import { hostname } from "node:os";
import { mkdir, open, readFile, stat, unlink, utimes } from "node:fs/promises";
import { dirname } from "node:path";

export interface FileLockOptions {
  /** A lock whose mtime is older than this is abandoned (default 60 s). */
  staleMs?: number;
  /** How often a waiter looks again (default 200 ms). */
  pollMs?: number;
  /** Called once when the lock is held by someone else, with a description of the holder. */
  onWait?: (holder: string) => void;
  /** Give up waiting after this long (default: wait as long as the holder is alive). */
  timeoutMs?: number;
}

interface Holder {
  pid: number;
  host: string;
  since: string;
}

export class FileLockTimeoutError extends Error {
  override name = "FileLockTimeoutError";
}

export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const staleMs = options.staleMs ?? 60_000;
  const pollMs = options.pollMs ?? 200;
  const started = Date.now();
  let told = false;
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    const acquired = await tryCreate(path);
    if (acquired) break;
    const holder = await readHolder(path);
    if (holder === "gone") continue; // released between our create and read: try again at once
    if (await isStale(path, holder, staleMs)) {
      // Two waiters may both judge the lock stale; only one create succeeds afterwards.
      await unlink(path).catch(() => {});
      continue;
    }
    if (!told) {
      told = true;
      options.onWait?.(holder === null ? "another process" : `process ${holder.pid} on ${holder.host} since ${holder.since}`);
    }
    if (options.timeoutMs !== undefined && Date.now() - started > options.timeoutMs) {
      throw new FileLockTimeoutError(`${path}: still locked after ${options.timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  // Refresh the mtime so waiters can tell a live holder from a crashed one on another host.
  const refresh = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, Math.max(50, Math.floor(staleMs / 4)));
  refresh.unref();
  try {
    return await fn();
  } finally {
    clearInterval(refresh);
    await unlink(path).catch(() => {});
  }
}

async function tryCreate(path: string): Promise<boolean> {
  try {
    const fh = await open(path, "wx");
    const me: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    await fh.writeFile(JSON.stringify(me));
    await fh.close();
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

/** The holder, null when the file is not (yet) readable as one, "gone" when it no longer exists. */
async function readHolder(path: string): Promise<Holder | null | "gone"> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as Partial<Holder>;
    return typeof parsed.pid === "number" && typeof parsed.host === "string"
      ? { pid: parsed.pid, host: parsed.host, since: String(parsed.since) }
      : null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    return null; // being written right now
  }
}

async function isStale(path: string, holder: Holder | null, staleMs: number): Promise<boolean> {
  if (holder !== null && holder.host === hostname() && !processExists(holder.pid)) return true;
  const mtime = await stat(path).then((s) => s.mtimeMs, () => null);
  return mtime !== null && Date.now() - mtime > staleMs;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
