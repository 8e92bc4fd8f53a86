// The seams between the folders (issue 16): what each may import. api/ (Deno) and web/ (the browser)
// share code with worker/ (Node) only through shared/, and shared/ depends on none of them. Read from
// the import specifiers of every TypeScript file, resolved against the file's folder.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Every relative import of every .ts file under `dir`, as [file, imported path], both from the root. */
async function importsUnder(dir: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  const entries = await readdir(path.join(ROOT, dir), { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile() || !e.name.endsWith(".ts") || e.parentPath.includes("node_modules")) continue;
    const file = path.relative(ROOT, path.join(e.parentPath, e.name));
    const text = await readFile(path.join(ROOT, file), "utf8");
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      out.push([file, path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), m[1]!))]);
    }
  }
  return out;
}

const crossing = (pairs: [string, string][], forbidden: string[]) =>
  pairs.filter(([, to]) => forbidden.some((f) => to === f || to.startsWith(`${f}/`))).map(([from, to]) => `${from} → ${to}`);

test("api/ imports nothing from worker/, service/ or web/ (what both sides need is in shared/)", async () => {
  assert.deepEqual(crossing(await importsUnder("api"), ["worker", "service", "web"]), []);
});

test("shared/ imports nothing from api/, worker/, service/ or web/", async () => {
  assert.deepEqual(crossing(await importsUnder("shared"), ["api", "worker", "service", "web"]), []);
});

test("the dashboard (web/src) imports only shared/ besides itself", async () => {
  assert.deepEqual(crossing(await importsUnder("web/src"), ["api", "worker", "service"]), []);
});

test("the check sees imports: worker/ does import shared/ (else the tests above would pass on nothing)", async () => {
  assert.ok((await importsUnder("worker")).some(([, to]) => to.startsWith("shared/queue/")));
});
