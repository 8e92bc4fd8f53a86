import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface LocalUser {
  name: string;
  uid: number;
  gid: number;
  /** Runs `node -e script` as this user (no imports: the project may be out of its reach). */
  node(script: string, args?: string[]): { status: number | null; stdout: string; stderr: string };
  remove(): void;
}

/**
 * A fresh unprivileged local account for a test (root only): the "other user on the same machine" that
 * the security tests play. Returns null, with the reason, when not root or useradd is missing.
 */
export function createLocalUser(): LocalUser | string {
  if (process.getuid?.() !== 0) return "needs root (to create a second local user with useradd)";
  const name = `rjt${randomBytes(4).toString("hex")}`;
  const made = spawnSync("useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", name], { encoding: "utf8" });
  if (made.error || made.status !== 0) return `useradd failed: ${made.error?.message ?? made.stderr}`;
  const id = (flag: string) => Number(spawnSync("id", [flag, name], { encoding: "utf8" }).stdout.trim());
  const uid = id("-u");
  const gid = id("-g");
  return {
    name,
    uid,
    gid,
    node(script, args = []) {
      const r = spawnSync(process.execPath, ["-e", script, ...args], { uid, gid, cwd: "/", encoding: "utf8", timeout: 30_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    remove() {
      spawnSync("userdel", [name]);
    },
  };
}
