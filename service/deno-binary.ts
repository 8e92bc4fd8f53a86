import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The Deno executable from the `deno` npm package, to spawn directly. `node_modules/.bin/deno` is a
 * Node wrapper (bin.cjs) unless the package's install script replaced it, and signals sent to the
 * wrapper never reach the Deno process it starts: a supervisor's SIGTERM/SIGKILL would leave the API
 * running. So processes that we stop by signal are started from the real binary.
 */
export const DENO_BINARY: string = (() => {
  const real = fileURLToPath(new URL(`../node_modules/deno/${process.platform === "win32" ? "deno.exe" : "deno"}`, import.meta.url));
  return existsSync(real) ? real : fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
})();
