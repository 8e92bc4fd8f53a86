/**
 * Whether a process with this pid exists on this machine (Node and Deno: `process.kill(pid, 0)` sends
 * nothing, it only checks). EPERM means it exists but belongs to another user.
 *
 * @example
 * isAlive(process.pid); // true
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}
