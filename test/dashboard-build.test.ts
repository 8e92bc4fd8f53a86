// The dashboard bundle: it type-checks with the DOM libs (web/tsconfig.json, which the root tsconfig
// does not cover), builds, and loads nothing from outside its own origin.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildDashboard } from "../web/build-dashboard.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

test("web/ type-checks under strict TypeScript with the DOM libs", async () => {
  await promisify(execFile)(path.join(ROOT, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", "web/tsconfig.json"], { cwd: ROOT })
    .catch((e: { stdout?: string }) => assert.fail(`tsc -p web/tsconfig.json failed:\n${e.stdout}`));
});

test("buildDashboard() writes index.html that names its hashed bundle, and nothing loads from elsewhere", async () => {
  const outDir = await mkdtemp(path.join(tmpdir(), "dashboard-build-"));
  try {
    const r = await buildDashboard({ outDir: path.join(outDir, "dist") });
    const html = await readFile(path.join(r.outDir, "index.html"), "utf8");
    assert.match(html, new RegExp(`src="${r.js}"`));
    assert.match(html, new RegExp(`href="${r.css}"`));
    assert.match(r.js, /^\/assets\/main-[A-Z0-9]+\.js$/);
    const assets = await readdir(path.join(r.outDir, "assets"));
    assert.ok(assets.includes(path.basename(r.js)) && assets.includes(path.basename(r.css)), assets.join(", "));
    // No CDN: no script, stylesheet or import fetched from another origin.
    const js = await readFile(path.join(r.outDir, r.js), "utf8");
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
    assert.doesNotMatch(js, /import\s*\(\s*["']https?:/);
    // Run states and scopes come from shared/run-states.ts, which imports nothing: no drizzle, no schema.
    assert.ok(r.inputs.includes("shared/run-states.ts"), r.inputs.filter((f) => f.startsWith("shared/")).join(", "));
    assert.deepEqual(r.inputs.filter((f) => /drizzle-orm|shared\/db\//.test(f)), []);
    // zod's locales are left out (see build-dashboard.ts): the bundle stays well under 500 KB.
    assert.ok(Buffer.byteLength(js) < 500_000, `bundle is ${Buffer.byteLength(js)} bytes`);
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
});
