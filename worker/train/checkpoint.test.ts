import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CheckpointFormatError, decodeCheckpoint, encodeCheckpoint, fileCheckpointStore, type TrainCheckpoint } from "./checkpoint.ts";

const sample = (): TrainCheckpoint => ({
  specFingerprint: "abc",
  epochsDone: 2,
  partial: { batches: 3, lossSum: 1.25, correct: 40, seen: 96, seconds: 0.5 },
  augmentRng: [1, 2, 3, 4294967295],
  history: [{ epoch: 1, loss: 2.1, acc: 0.2, valLoss: 2, valAcc: 0.25, lr: 1e-3, wd: 1.5e-4, seconds: 1, imagesPerSec: 100, iterations: 7 }],
  best: { epoch: 1, valAcc: 0.25 },
  thresholdEpoch: null,
  weights: [{ name: "k", shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6.5]) }, { name: "b", shape: [1], values: Float32Array.from([Math.PI]) }],
  optimizer: { iterations: 17, m: [new Float32Array(6).fill(0.1), Float32Array.from([-1])], v: [new Float32Array(6).fill(0.2), Float32Array.from([2])] },
});

test("encodeCheckpoint()/decodeCheckpoint() round-trip every field bit for bit", () => {
  const c = sample();
  const back = decodeCheckpoint(encodeCheckpoint(c));
  assert.deepEqual(back, c);
});

test("decodeCheckpoint() reads a checkpoint written before the rate was named imagesPerSec (a run resumed across the upgrade)", () => {
  const c = sample();
  const old = { ...c, history: c.history.map(({ imagesPerSec, ...m }) => ({ ...m, imagesPerSecond: imagesPerSec })) };
  const back = decodeCheckpoint(encodeCheckpoint(old as unknown as TrainCheckpoint));
  assert.deepEqual(back.history, c.history);
});

test("decodeCheckpoint() rejects truncated or foreign bytes", () => {
  const bytes = encodeCheckpoint(sample());
  assert.throws(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 4), "x.ckpt"), /x\.ckpt: expected \d+ bytes, found \d+/);
  assert.throws(() => decodeCheckpoint(new TextEncoder().encode("hello world, not a checkpoint")), CheckpointFormatError);
});

test("fileCheckpointStore() saves atomically (no temp files left) and loads null when absent", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ckpt-"));
  try {
    const store = fileCheckpointStore(join(dir, "sub", "run.ckpt"));
    assert.equal(await store.load(), null);
    await store.save(sample());
    const second = { ...sample(), epochsDone: 3 };
    await store.save(second);
    assert.deepEqual(await readdir(join(dir, "sub")), ["run.ckpt"]);
    assert.deepEqual(await store.load(), second);
    const bytes = await readFile(store.path);
    await writeFile(store.path, bytes.subarray(0, 100));
    await assert.rejects(store.load(), /run\.ckpt: (expected|truncated)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
