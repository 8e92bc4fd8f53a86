import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseFashionMnistMd5 } from "./download-fashion-mnist.ts";
import { DataFetchError, type DataEvent, type DataSources, FETCH_LOCK, loadRawDataset } from "./load-dataset.ts";
import type { DataOptions } from "./prepare-data.ts";
import { FASHION_MNIST_FILES } from "./read-fashion-mnist.ts";
import { makeFashionMnistFiles, serveFiles } from "./test-fixtures/fashion-mnist-files.ts";
import { withFileLock } from "./with-file-lock.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FASHION: DataOptions = { dataset: "fashion-mnist", validationSize: 10, stratified: true, seed: 1, shift: 0, flip: false };
const fixture = makeFashionMnistFiles({ train: 60, test: 20 });

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), "data-fetch-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sources = (dir: string, url: string, extra: Partial<DataSources> = {}): DataSources => ({
  cifar10Dir: join(dir, "cifar10"),
  fashionMnistDir: join(dir, "fashion-mnist"),
  fashionMnistSystemDir: "",
  fashionMnistUrl: url,
  fashionMnistMd5: parseFashionMnistMd5(fixture.md5Env),
  ...extra,
});

test("loadRawDataset() fetches a missing Fashion-MNIST once, md5-verified, reporting each step", async () => {
  const server = await serveFiles(fixture.bytes);
  try {
    await withDir(async (dir) => {
      const events: DataEvent[] = [];
      const raw = await loadRawDataset(FASHION, sources(dir, server.url), (e) => events.push(e));
      assert.equal(raw.train.labels.length, 60);
      assert.deepEqual(Object.values(server.requests), [1, 1, 1, 1]);
      assert.deepEqual(new Set(events.map((e) => e.phase)), new Set(["download", "verify", "ready"]));
      assert.deepEqual(events.at(-1), { dataset: "fashion-mnist", phase: "ready", source: "fetched", dir: join(dir, "fashion-mnist") });
      assert.deepEqual((await readdir(join(dir, "fashion-mnist"))).sort(), Object.values(FASHION_MNIST_FILES).sort());
      // Second use: found, nothing fetched.
      const again: DataEvent[] = [];
      await loadRawDataset(FASHION, sources(dir, server.url), (e) => again.push(e));
      assert.deepEqual(again.map((e) => [e.phase, e.source]), [["ready", "local"]]);
      assert.deepEqual(Object.values(server.requests), [1, 1, 1, 1]);
    });
  } finally {
    await server.close();
  }
});

test("loadRawDataset() reads Fashion-MNIST from the system folder before fetching", async () => {
  await withDir(async (dir) => {
    const system = join(dir, "usr-share");
    await mkdir(system);
    for (const [name, bytes] of Object.entries(fixture.bytes)) await writeFile(join(system, name), bytes);
    const events: DataEvent[] = [];
    const raw = await loadRawDataset(FASHION, sources(dir, "http://127.0.0.1:9/", { fashionMnistSystemDir: system }), (e) => events.push(e));
    assert.equal(raw.test.labels.length, 20);
    assert.deepEqual(events, [{ dataset: "fashion-mnist", phase: "ready", source: "system", dir: system }]);
  });
});

test("loadRawDataset() fails with DataFetchError (code invalid_data) on a wrong md5, a 404 or no server", async () => {
  const server = await serveFiles(fixture.bytes);
  try {
    await withDir(async (dir) => {
      const wrongMd5 = { fashionMnistMd5: parseFashionMnistMd5(Array(4).fill("0".repeat(32)).join(",")) };
      await assert.rejects(loadRawDataset(FASHION, sources(dir, server.url, wrongMd5)), (e: unknown) =>
        e instanceof DataFetchError && e.code === "invalid_data" && /md5 mismatch: expected 0{32}/.test(e.message) &&
        e.message.includes(FASHION_MNIST_FILES.trainImages));
      // Nothing unverified stays behind (and the lock is released).
      assert.deepEqual(await readdir(join(dir, "fashion-mnist")), []);
      await assert.rejects(loadRawDataset(FASHION, sources(dir, `${server.url}missing/`)), /HTTP 404/);
      await assert.rejects(loadRawDataset(FASHION, sources(dir, "http://127.0.0.1:9/")), (e: unknown) =>
        e instanceof DataFetchError && /Cannot fetch fashion-mnist into .*cannot connect/.test(e.message));
    });
  } finally {
    await server.close();
  }
});

test("two processes that need the same missing data set fetch it once: the second waits for the first", async () => {
  // The server holds every file back until one process says it is waiting for the other's lock.
  let open!: () => void;
  const server = await serveFiles(fixture.bytes, { gate: new Promise<void>((r) => (open = r)) });
  try {
    await withDir(async (dir) => {
      const run = () =>
        new Promise<DataEvent[]>((resolve, reject) => {
          const child = spawn(process.execPath, ["--import", "tsx", "worker/data/test-fixtures/fetch-child.ts"], {
            cwd: ROOT,
            env: { ...process.env, FETCH_DIR: dir, FETCH_URL: server.url, FETCH_MD5: fixture.md5Env },
            stdio: ["ignore", "pipe", "inherit"],
          });
          let out = "";
          child.stdout.on("data", (d: Buffer) => {
            out += d;
            if (out.includes('"phase":"waiting"')) open();
          });
          // "close", not "exit": only then has all of its stdout been read.
          child.on("close", (code) =>
            code === 0 ? resolve(out.trim().split("\n").map((l) => JSON.parse(l) as DataEvent)) : reject(new Error(`exit ${code}: ${out}`))
          );
        });
      const [a, b] = await Promise.all([run(), run()]);
      assert.deepEqual(Object.values(server.requests), [1, 1, 1, 1], JSON.stringify(server.requests));
      const sourcesSeen = [a, b].map((events) => events.find((e) => e.phase === "ready")?.source).sort();
      assert.deepEqual(sourcesSeen, ["fetched", "local"], JSON.stringify([a, b]));
      const waiter = [a, b].find((events) => events.some((e) => e.phase === "ready" && e.source === "local"))!;
      assert.equal(waiter[0]!.phase, "waiting", JSON.stringify(waiter));
    });
  } finally {
    await server.close();
  }
});

test("withFileLock() serializes holders and takes over a lock whose holder is gone", async () => {
  await withDir(async (dir) => {
    const lock = join(dir, FETCH_LOCK);
    const order: string[] = [];
    const hold = (name: string) =>
      withFileLock(lock, async () => {
        order.push(`${name} in`);
        await new Promise((r) => setTimeout(r, 100));
        order.push(`${name} out`);
      }, { pollMs: 20 });
    await Promise.all([hold("a"), hold("b")]);
    // Whichever came first, the other entered only after it left.
    const first = order[0]!.slice(0, 1), second = first === "a" ? "b" : "a";
    assert.deepEqual(order, [`${first} in`, `${first} out`, `${second} in`, `${second} out`]);
    // A crashed holder on this host: its pid no longer exists.
    await writeFile(lock, JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import("node:os")).hostname(), since: "then" }));
    assert.equal(await withFileLock(lock, async () => "taken", { timeoutMs: 2000 }), "taken");
    // A holder elsewhere that stopped refreshing the lock's mtime.
    await writeFile(lock, JSON.stringify({ pid: 1, host: "another-host", since: "then" }));
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    assert.equal(await withFileLock(lock, async () => "taken", { timeoutMs: 2000 }), "taken");
    // A live holder is waited for.
    await writeFile(lock, JSON.stringify({ pid: process.pid, host: "another-host", since: "now" }));
    let told = "";
    await assert.rejects(
      withFileLock(lock, async () => "never", { timeoutMs: 300, pollMs: 20, onWait: (h) => (told = h) }),
      /still locked after 300 ms/,
    );
    assert.match(told, new RegExp(`process ${process.pid} on another-host`));
  });
});

test("withFileLock(): many waiters that all find the same stale lock take it over one at a time", async () => {
  await withDir(async (dir) => {
    const lock = join(dir, FETCH_LOCK);
    const { hostname } = await import("node:os");
    for (let round = 0; round < 20; round++) {
      // A crashed holder on this host, found stale by all 12 waiters at once.
      await writeFile(lock, JSON.stringify({ pid: 2 ** 22 + 4321, host: hostname(), since: `round ${round}` }));
      let inside = 0, most = 0;
      await Promise.all(Array.from({ length: 12 }, () =>
        withFileLock(lock, async () => {
          most = Math.max(most, ++inside);
          await new Promise((r) => setTimeout(r, 5));
          inside--;
        }, { pollMs: 1, timeoutMs: 10_000 })));
      assert.equal(most, 1, `round ${round}: ${most} holders at once`);
      assert.deepEqual(await readdir(dir), [], "no lock and no takeover guard left");
    }
  });
});
