/**
 * `npm start` / `npm run …` as a user (or Docker, or systemd) runs it: a real npm process, its output
 * captured, and a SIGTERM sent to npm itself that reports what was left running.
 *
 * @example
 * const npm = startNpm(["start"], { DATABASE_URL: db.url });
 * await npm.waitFor(/service running/);
 * const { code, left } = await sigtermNpm(npm);
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { hasProc, processTree, stillAlive } from "./process-tree.ts";
import { eventually, FAST_QUEUE_ENV } from "./worker-process.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Why npm tests cannot run here (a skip message), or false. */
export const npmMissing: string | false = (() => {
  try {
    execFileSync("npm", ["--version"], { stdio: "ignore" });
    return hasProc() ? false : "needs /proc to look for orphans";
  } catch {
    return "needs npm on PATH";
  }
})();

export interface NpmProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first output line matching `pattern` (already printed or future). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startNpm(args: string[], env: Record<string, string>): NpmProcess {
  const child = spawn("npm", args, {
    cwd: ROOT,
    env: { ...process.env, ...FAST_QUEUE_ENV, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (out += d));
  if (process.env.QUEUE_TEST_VERBOSE) child.stdout!.on("data", (d: Buffer) => process.stderr.write(d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal }))
  );
  const find = (pattern: RegExp) => out.split("\n").find((l) => pattern.test(l));
  return {
    child,
    output: () => out,
    exited,
    waitFor: (pattern, timeoutMs = 60_000) =>
      eventually(`a line matching ${pattern}`, async () => find(pattern), timeoutMs)
        .catch((e: Error) => Promise.reject(new Error(`${e.message}; output:\n${out}`))),
  };
}

/**
 * SIGTERM to npm's own pid (never its children); returns its exit status, how long the stop took, and
 * what of the process tree it had at the signal still runs (zombies excluded).
 */
export async function sigtermNpm(npm: NpmProcess): Promise<{ code: number | null; ms: number; left: string[] }> {
  const tree = processTree(npm.child.pid!);
  assert.ok(tree.length >= 2, `npm should have started the program:\n${tree.map((p) => p.args).join("\n")}`);
  const sentAt = Date.now();
  npm.child.kill("SIGTERM");
  const timer = setTimeout(() => npm.child.kill("SIGKILL"), 40_000);
  const { code } = await npm.exited;
  clearTimeout(timer);
  const ms = Date.now() - sentAt;
  // npm exits after its child; give the last grandchildren a moment to be reaped.
  const left = await eventually("no process left", async () => stillAlive(tree).length === 0 ? [] : undefined, 5000)
    .catch(() => stillAlive(tree));
  return { code, ms, left };
}
