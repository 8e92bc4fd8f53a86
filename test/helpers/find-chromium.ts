/**
 * The Chromium the dashboard tests and bench drive: `CHROMIUM_PATH` if set (`CHROMIUM_PATH=npm` forces
 * the npm one, to prove the bare-machine path on a machine that has a system browser), else a system
 * Chromium (Debian's /usr/bin/chromium), else the headless Chromium shipped inside the npm package
 * `@sparticuz/chromium`, so `npm ci && npm test` needs no browser from outside npm.
 *
 * The npm Chromium is a brotli-packed binary that `executablePath()` unpacks into `os.tmpdir()`; it is
 * unpacked here into the project's git-ignored `.tmp/` (never a shared /tmp another user owns), once,
 * under a file lock (test files run in parallel and would otherwise race on a half-written binary),
 * and a `.complete` marker tells a finished unpack from one a killed process left behind.
 *
 * @example
 * const { path, source } = await findChromium(); // { path: "/usr/bin/chromium", source: "system" }
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { withFileLock } from "../../worker/data/with-file-lock.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const SYSTEM_CHROMIUMS = ["/usr/bin/chromium", "/usr/bin/chromium-browser"] as const;

export interface FoundChromium {
  path: string;
  source: "env" | "system" | "npm";
}

export async function findChromium(env: NodeJS.ProcessEnv = process.env): Promise<FoundChromium> {
  const wanted = env.CHROMIUM_PATH;
  if (wanted !== undefined && wanted !== "" && wanted !== "npm") {
    if (!existsSync(wanted)) throw new Error(`CHROMIUM_PATH=${wanted}: no such file`);
    return { path: wanted, source: "env" };
  }
  if (wanted !== "npm") {
    const system = SYSTEM_CHROMIUMS.find((p) => existsSync(p));
    if (system !== undefined) return { path: system, source: "system" };
  }
  return { path: await unpackNpmChromium(), source: "npm" };
}

async function unpackNpmChromium(): Promise<string> {
  // A direct dependency sits here; its exports do not include package.json.
  const pkg = path.join(ROOT, "node_modules", "@sparticuz", "chromium", "package.json");
  const version = (JSON.parse(await readFile(pkg, "utf8")) as { version: string }).version;
  const dir = path.join(ROOT, ".tmp", `chromium-npm-${version}`);
  const binary = path.join(dir, "chromium");
  const marker = path.join(dir, ".complete");
  if (existsSync(marker)) return binary;
  return withFileLock(`${dir}.lock`, async () => {
    if (existsSync(marker)) return binary;
    await rm(dir, { recursive: true, force: true }); // a killed unpack's leftovers
    await mkdir(dir, { recursive: true });
    const { default: Chromium } = await import("@sparticuz/chromium");
    // executablePath() unpacks into os.tmpdir(), which reads TMPDIR on every call.
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = dir;
    try {
      const unpacked = await Chromium.executablePath();
      if (unpacked !== binary) throw new Error(`@sparticuz/chromium unpacked to ${unpacked}, expected ${binary}`);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    await writeFile(marker, `${new Date().toISOString()}\n`);
    return binary;
  }, { staleMs: 30_000 });
}
