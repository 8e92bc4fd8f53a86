import { type ChildProcess, spawn } from "node:child_process";
import type { LineLog } from "../shared/logger.ts";
import { LineSplitter } from "./log-line.ts";

export interface ChildSpec {
  name: string;
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
}

interface Slot {
  spec: ChildSpec;
  child: ChildProcess | null;
  restarts: number;
  timer: NodeJS.Timeout | null;
}

const MAX_BACKOFF_MS = 30_000;
/** A child that stayed up this long was healthy: its next crash starts the backoff over. */
export const HEALTHY_AFTER_MS = 60_000;

/** The wait before restart number `restarts` (0-based): 1 s doubling to 30 s. */
export function restartDelayMs(restarts: number): number {
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** restarts);
}

/**
 * Keeps child processes alive: one that exits while the supervisor is running is restarted with
 * exponential backoff (1 s doubling to 30 s; reset after a minute of good health). Output is passed
 * through line by line with the child's name as prefix, each line escaped and bounded (log-line.ts) so
 * that what a child prints cannot pass for a line of ours.
 */
export class Supervisor {
  readonly #slots: Slot[] = [];
  #stopping = false;

  /**
   * `relay` writes one (escaped, bounded) line of a child's output; by default as our own line with the
   * child's name in brackets. The child has applied LOG_LEVEL to it already.
   */
  constructor(
    private readonly log: LineLog,
    private readonly relay: (child: string, line: string) => void = (child, line) => log(`[${child}] ${line}`),
  ) {}

  add(spec: ChildSpec): void {
    const slot: Slot = { spec, child: null, restarts: 0, timer: null };
    this.#slots.push(slot);
    this.#start(slot);
  }

  /** Pids of the live children, by name (tests use this to send signals). */
  pids(): Record<string, number | undefined> {
    return Object.fromEntries(this.#slots.map((s) => [s.spec.name, s.child?.pid]));
  }

  /** Sends SIGTERM to all, then SIGKILL to those still alive after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    for (const slot of this.#slots) if (slot.timer) clearTimeout(slot.timer);
    const live = this.#slots.map((s) => s.child).filter((c): c is ChildProcess => c !== null);
    const exited = live.map((c) => new Promise<void>((resolve) => c.once("exit", () => resolve())));
    for (const c of live) c.kill("SIGTERM");
    const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), graceMs).unref());
    if (await Promise.race([Promise.all(exited), timeout]) === "timeout") {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      await Promise.all(exited);
    }
  }

  /** Kills every child at once (second Ctrl-C). */
  killAll(): void {
    this.#stopping = true;
    for (const s of this.#slots) s.child?.kill("SIGKILL");
  }

  #start(slot: Slot): void {
    const { spec } = slot;
    const child = spawn(spec.command, spec.args, { env: spec.env, stdio: ["ignore", "pipe", "pipe"] });
    slot.child = child;
    const startedAt = Date.now();
    for (const stream of [child.stdout, child.stderr]) {
      const lines = new LineSplitter((line) => this.relay(spec.name, line));
      stream?.on("data", (chunk: Buffer) => lines.push(chunk));
      stream?.on("end", () => lines.end());
    }
    child.on("error", (e) => this.log(`[${spec.name}] failed to start: ${e.message}`, "error"));
    child.on("exit", (code, signal) => {
      slot.child = null;
      if (this.#stopping) return;
      if (Date.now() - startedAt > HEALTHY_AFTER_MS) slot.restarts = 0;
      const delay = restartDelayMs(slot.restarts);
      slot.restarts++;
      this.log(`[${spec.name}] exited (${signal ?? `code ${code}`}); restarting in ${delay / 1000} s`, "warn");
      slot.timer = setTimeout(() => {
        slot.timer = null;
        if (!this.#stopping) this.#start(slot);
      }, delay);
    });
  }
}
