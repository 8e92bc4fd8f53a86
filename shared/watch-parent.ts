/**
 * Notices that the process that started us went away. A parent that dies without passing a signal on
 * (npm killed with -9, `npm start`'s supervisor killed with -9, a shell that dies of SIGTERM instead of
 * forwarding it) leaves its children re-parented to init: they would run on as orphans holding ports,
 * leases and a database that is gone. Polling the parent pid is the one check that works for every way
 * a parent can die, on Node and Deno alike (the caller passes its runtime's live ppid getter).
 *
 * @example
 * const stop = watchParent(() => process.ppid, () => loop.drain());
 */
export function watchParent(readPpid: () => number, onGone: () => void, everyMs = 500): () => void {
  const parent = readPpid();
  const timer = setInterval(() => {
    if (readPpid() === parent) return;
    clearInterval(timer);
    onGone();
  }, everyMs);
  // Never the reason a process stays alive (Deno's setInterval returns a number, without unref).
  (timer as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
}

/**
 * Whether this process should stop when its parent goes: it runs under `npm run` (npm sets
 * npm_lifecycle_event for the script and everything it starts) or was told so (`--stop-with-parent`,
 * which `npm start` passes to the processes it supervises). A process started from a shell by hand
 * (`nohup node worker/main.ts &`) is left alone: outliving that shell is what its user asked for.
 */
export function stopsWithParent(env: Record<string, string | undefined>, args: readonly string[]): boolean {
  return (env.npm_lifecycle_event ?? "") !== "" || args.includes("--stop-with-parent");
}
