/**
 * A process and everything it started, read from /proc (Linux), so a test can check that a stop left
 * no orphan. A zombie is not alive: the sandbox's PID 1 does not reap the children it inherits, so a
 * process that exited may linger as `Z` until the machine's end.
 *
 * @example
 * const tree = processTree(npm.pid!);      // while it runs
 * npm.kill("SIGTERM"); await exited;
 * assert.deepEqual(stillAlive(tree), []);
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessInfo {
  pid: number;
  ppid: number;
  state: string;
  args: string;
}

function readProcess(pid: number): ProcessInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    return { pid, state: rest[0]!, ppid: Number(rest[1]), args };
  } catch {
    return null;
  }
}

/** Whether /proc can be read here (tests that need it skip without it). */
export function hasProc(): boolean {
  return readProcess(process.pid) !== null;
}

/** `root` and all its live descendants. */
export function processTree(root: number): ProcessInfo[] {
  const all = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map((d) => readProcess(Number(d)))
    .filter((p): p is ProcessInfo => p !== null);
  const tree: ProcessInfo[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const p = all.find((x) => x.pid === pid);
    if (p && p.state !== "Z") tree.push(p);
    for (const child of all) if (child.ppid === pid) queue.push(child.pid);
  }
  return tree;
}

/** The processes of `tree` that still run (same pid and command line, not a zombie), as "pid args". */
export function stillAlive(tree: readonly ProcessInfo[]): string[] {
  return tree.filter((p) => {
    const now = readProcess(p.pid);
    return now !== null && now.state !== "Z" && now.args === p.args;
  }).map((p) => `${p.pid} ${p.args}`);
}
