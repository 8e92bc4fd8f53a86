/**
 * Real worker processes for the queue's integration tests: `node --import tsx worker/main.ts` with the
 * test database and a short lease, their output captured so a test can wait for a line.
 *
 * @example
 * const w = startWorker({ DATABASE_URL: db.url, TRAINER: "fake" }, "w1");
 * await w.waitFor(/ready/);
 * w.child.kill("SIGTERM");
 * assert.equal((await w.exited).code, 0);
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface WorkerProcess {
  id: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the first output line matching `pattern` (already printed or future). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Short timings that keep the tests fast; LEASE_S ≥ 2 is the config's floor. */
export const FAST_QUEUE_ENV = { LEASE_S: "3", HEARTBEAT_S: "1", POLL_MS: "200" } as const;

/**
 * `opts.root`: another checkout to run the worker of (benchmarks compare versions side by side).
 * `opts.netns`: run it inside that network namespace (`ip netns exec`, which execs: the child is the
 * worker itself, so signals reach it directly).
 */
export function startWorker(env: Record<string, string>, id: string, opts: { netns?: string; root?: string } = {}): WorkerProcess {
  const node = [process.execPath, "--import", "tsx", "worker/main.ts"];
  const [command, ...args] = opts.netns === undefined ? node : ["ip", "netns", "exec", opts.netns, ...node];
  const child = spawn(command!, args, {
    cwd: opts.root ?? ROOT,
    env: { ...process.env, ...FAST_QUEUE_ENV, WORKER_ID: id, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (d: Buffer) => {
    const start = out.length;
    out += d.toString("utf8");
    if (process.env.QUEUE_TEST_VERBOSE) process.stderr.write(d);
    const fresh = out.slice(out.lastIndexOf("\n", start) + 1);
    for (const w of [...waiters]) {
      const line = fresh.split("\n").find((l) => w.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal }))
  );
  return {
    id,
    child,
    output: () => out,
    exited,
    waitFor(pattern, timeoutMs = 20_000) {
      const line = out.split("\n").find((l) => pattern.test(l));
      if (line !== undefined) return Promise.resolve(line);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.findIndex((w) => w.pattern === pattern), 1);
          reject(new Error(`worker ${id}: no line matching ${pattern} within ${timeoutMs} ms; output:\n${out}`));
        }, timeoutMs);
        waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    },
  };
}

/** Polls `check` until it returns a value that is not undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops workers gently (SIGTERM) and waits; kills what is left after `graceMs`. */
export async function stopWorkers(workers: readonly WorkerProcess[], graceMs = 10_000): Promise<void> {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGCONT");
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGTERM");
  const timer = setTimeout(() => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill("SIGKILL");
  }, graceMs);
  await Promise.all(workers.map((w) => w.exited));
  clearTimeout(timer);
}
