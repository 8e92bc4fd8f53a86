import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { DASHBOARD_CSP, serveDashboard } from "./serve-dashboard.ts";

async function withDist(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "dashboard-dist-"));
  try {
    await mkdir(join(dir, "assets"));
    await writeFile(join(dir, "index.html"), "<!doctype html><title>x</title>");
    await writeFile(join(dir, "assets", "main-ABC123.js"), "console.log(1)");
    await writeFile(join(dir, "secret.txt"), "no");
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

Deno.test("serveDashboard() serves index.html at / uncached, with the CSP", () =>
  withDist(async (dir) => {
    const app = new Hono().route("/", serveDashboard({ dir }));
    const res = await app.request("/");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(res.headers.get("cache-control"), "no-cache");
    assert.equal(res.headers.get("content-security-policy"), DASHBOARD_CSP);
    assert.match(await res.text(), /<title>x<\/title>/);
  }));

Deno.test("serveDashboard() serves hashed assets cached for a year with their type", () =>
  withDist(async (dir) => {
    const app = new Hono().route("/", serveDashboard({ dir }));
    const res = await app.request("/assets/main-ABC123.js");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(await res.text(), "console.log(1)");
  }));

Deno.test("serveDashboard() answers 404 for missing assets and for paths that leave assets/", () =>
  withDist(async (dir) => {
    const app = new Hono().route("/", serveDashboard({ dir }));
    for (const path of ["/assets/nope-1.js", "/assets/..%2Fsecret.txt", "/assets/%2e%2e%2fsecret.txt", "/secret.txt"]) {
      const res = await app.request(path);
      assert.equal(res.status, 404, path);
      await res.body?.cancel();
    }
  }));

Deno.test("serveDashboard() says how to build when web/dist is missing", async () => {
  const app = new Hono().route("/", serveDashboard({ dir: join(tmpdir(), "no-such-dashboard-dist") }));
  const res = await app.request("/");
  assert.equal(res.status, 503);
  assert.match(await res.text(), /npm run build:web/);
});
