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
 * Taking over goes through a guard file, one waiter at a time, each checking again under the guard
 * that the lock is still the stale one it judged: without it two waiters that both judged the lock
 * stale could each delete it, the second deleting the first one's new lock, and both would hold it.
 *
 * @example
 * await withFileLock(join(dir, ".fetch.lock"), () => download(dir), { onWait: (h) => log(`waiting for ${h}`) });
 */
import { hostname } from "node:os";
import { mkdir, open, readFile, stat, unlink, utimes } from "node:fs/promises";
import { isAlive } from "../../shared/process-alive.ts";
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
      await takeOver(path, holder, staleMs);
      continue; // whether we removed it or someone else did: try to create it again
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

/** A takeover guard older than this was left by a waiter that died while taking over (it takes ms). */
const GUARD_STALE_MS = 10_000;

/**
 * Removes the stale lock, under a second exclusive file (`<lock>.takeover`) so that one waiter at a
 * time does it, and only after checking again, under that guard, that the lock is still the one judged
 * stale (same holder, still stale). While a stale lock exists nobody can create a new one, and only
 * the guard's holder removes it: so a waiter can never remove another waiter's fresh lock.
 */
async function takeOver(path: string, judged: Holder | null, staleMs: number): Promise<void> {
  const guard = `${path}.takeover`;
  if (!(await tryCreate(guard))) {
    const age = await stat(guard).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > GUARD_STALE_MS) await unlink(guard).catch(() => {});
    return; // another waiter is taking over: look again
  }
  try {
    const now = await readHolder(path);
    if (now !== "gone" && sameHolder(now, judged) && (await isStale(path, now, staleMs))) {
      await unlink(path).catch(() => {});
    }
  } finally {
    await unlink(guard).catch(() => {});
  }
}

function sameHolder(a: Holder | null, b: Holder | null): boolean {
  return a === null || b === null ? a === b : a.pid === b.pid && a.host === b.host && a.since === b.since;
}

async function isStale(path: string, holder: Holder | null, staleMs: number): Promise<boolean> {
  if (holder !== null && holder.host === hostname() && !isAlive(holder.pid)) return true;
  const mtime = await stat(path).then((s) => s.mtimeMs, () => null);
  return mtime !== null && Date.now() - mtime > staleMs;
}
