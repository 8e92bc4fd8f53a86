import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeArchive, serve } from "../data/test-fixtures/cifar10-archive.ts";

const cli = fileURLToPath(new URL("./data-cifar10.ts", import.meta.url));

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", cli, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout, stderr });
    });
  });
}

test("npm run data:cifar10 takes its URL and md5 from the environment and fails clearly on an md5 mismatch", async () => {
  const archive = makeArchive();
  const server = await serve(archive);
  const dir = await mkdtemp(join(tmpdir(), "cifar-cli-"));
  try {
    const actual = createHash("md5").update(archive).digest("hex");
    const r = await run([], { CIFAR10_DIR: dir, CIFAR10_URL: server.url, CIFAR10_MD5: "f".repeat(32) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`md5 mismatch: expected f{32}, got ${actual}`));
    assert.deepEqual(await readdir(dir), []);
    assert.equal(server.requests.length, 1);
    const bad = await run(["--dir", dir, "--md5", "xyz"], {});
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--md5 must be 32 hex digits/);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
