import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadCifar10 } from "./download-cifar10.ts";
import { DownloadError } from "./download-verified.ts";
import { findCifar10Files, readCifar10 } from "./read-cifar10.ts";
import { makeArchive, PER_FILE, serve } from "./test-fixtures/cifar10-archive.ts";

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), "cifar-dl-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("downloadCifar10() downloads, verifies the md5 and unpacks into <dir>/cifar-10-batches-bin", async () => {
  const archive = makeArchive();
  const server = await serve(archive);
  try {
    await withDir(async (dir) => {
      const phases = new Set<string>();
      const r = await downloadCifar10({ dir, url: server.url, md5: md5(archive), recordsPerFile: PER_FILE, onProgress: (p) => phases.add(p.phase) });
      assert.equal(r.downloaded, true);
      assert.equal(r.path, join(dir, "cifar-10-batches-bin"));
      assert.deepEqual([...phases], ["download", "verify", "unpack"]);
      const data = await readCifar10(dir, PER_FILE);
      assert.deepEqual(Array.from(data.train.labels), [0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5, 6]);
      assert.deepEqual((await readdir(dir)).sort(), ["cifar-10-batches-bin"]); // archive and temp folder gone
      // Already there: no second request.
      const again = await downloadCifar10({ dir, url: server.url, md5: md5(archive), recordsPerFile: PER_FILE });
      assert.equal(again.downloaded, false);
      assert.equal(server.requests.length, 1);
    });
  } finally {
    await server.close();
  }
});

test("downloadCifar10() resumes an interrupted download with a Range request", async () => {
  const archive = makeArchive();
  const server = await serve(archive);
  try {
    await withDir(async (dir) => {
      const opts = { dir, url: server.url, md5: md5(archive), recordsPerFile: PER_FILE };
      server.cutNextAfter = Math.floor(archive.length / 2);
      await assert.rejects(downloadCifar10(opts), (e: unknown) => e instanceof DownloadError && /interrupted.*run again to resume/.test(e.message));
      const partSize = (await stat(join(dir, "cifar-10-binary.tar.gz.part"))).size;
      assert.ok(partSize > 0 && partSize <= archive.length / 2, `part file has ${partSize} bytes`);
      assert.equal(await findCifar10Files(dir), null);
      const r = await downloadCifar10(opts);
      assert.equal(r.resumedFrom, partSize);
      assert.deepEqual(server.requests.map((q) => q.range), [undefined, `bytes=${partSize}-`]);
      assert.equal((await readCifar10(dir, PER_FILE)).test.labels[0], 9);
    });
  } finally {
    await server.close();
  }
});

test("downloadCifar10() starts over when the server ignores the Range header", async () => {
  const archive = makeArchive();
  const server = await serve(archive);
  try {
    await withDir(async (dir) => {
      const opts = { dir, url: server.url, md5: md5(archive), recordsPerFile: PER_FILE };
      server.cutNextAfter = 1000;
      await assert.rejects(downloadCifar10(opts), DownloadError);
      server.ignoreRange = true;
      await downloadCifar10(opts);
      assert.equal((await readCifar10(dir, PER_FILE)).train.labels.length, 5 * PER_FILE);
    });
  } finally {
    await server.close();
  }
});

test("downloadCifar10() with an md5 mismatch says so and leaves nothing that looks valid", async () => {
  const archive = makeArchive();
  const server = await serve(archive);
  try {
    await withDir(async (dir) => {
      const wrong = "0".repeat(32);
      await assert.rejects(
        downloadCifar10({ dir, url: server.url, md5: wrong, recordsPerFile: PER_FILE }),
        new RegExp(`md5 mismatch: expected ${wrong}, got ${md5(archive)}.*deleted the download, nothing was unpacked`),
      );
      assert.deepEqual(await readdir(dir), []);
      assert.equal(await findCifar10Files(dir), null);
    });
  } finally {
    await server.close();
  }
});

test("downloadCifar10() reports an HTTP error with the URL and status", async () => {
  const server = await serve(new Uint8Array(1));
  try {
    await withDir(async (dir) => {
      await assert.rejects(downloadCifar10({ dir, url: server.url.replace(/[^/]+$/, "missing.tar.gz") }), /missing\.tar\.gz: HTTP 404/);
    });
  } finally {
    await server.close();
  }
});
