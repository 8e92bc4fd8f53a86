import { readdir } from "node:fs/promises";
import path from "node:path";

/**
 * Test files by runtime: Deno runs every `*.test.ts` in shared/ and api/ plus `*.deno.test.ts`
 * anywhere; Node runs the other `*.test.ts` files (worker/, service/, test/). Paths are relative.
 */
export async function findTestFiles(root: string, runtime: "deno" | "node"): Promise<string[]> {
  const files: string[] = [];
  for (const top of ["shared", "api", "worker", "service", "test", "bench"]) {
    await walk(path.join(root, top), root, files);
  }
  const isDeno = (f: string) => f.endsWith(".deno.test.ts") || f.startsWith("shared/") || f.startsWith("api/");
  return files.filter((f) => f.endsWith(".test.ts") && isDeno(f) === (runtime === "deno")).sort();
}

async function walk(dir: string, root: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) await walk(full, root, out);
    else out.push(path.relative(root, full).split(path.sep).join("/"));
  }
}
