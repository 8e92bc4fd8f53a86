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

test("fileCheckpointStore() saves sealed files atomically (no temp files left), keeps the one before, and loads null when absent", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ckpt-"));
  try {
    const store = fileCheckpointStore(join(dir, "sub", "run.ckpt"));
    assert.equal(await store.load(), null);
    const first = sample();
    await store.save(first);
    const second = { ...sample(), epochsDone: 3 };
    await store.save(second);
    assert.deepEqual((await readdir(join(dir, "sub"))).sort(), ["run.ckpt", "run.ckpt.prev"]);
    assert.deepEqual(await store.load(), second);
    assert.equal(new TextDecoder().decode((await readFile(store.path)).subarray(0, 8)), "RJSEAL01", "sealed");
    await store.clear();
    assert.equal(await store.load(), null, "cleared: nothing to resume from, the one before included");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("fileCheckpointStore(): a damaged newest checkpoint (one flipped byte, or truncated) falls back to the one before, saying so; both damaged start over", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ckpt-"));
  try {
    const said: string[] = [];
    const store = fileCheckpointStore(join(dir, "run.ckpt"), { onDamaged: (m) => said.push(m) });
    const first = sample();
    await store.save(first);
    await store.save({ ...sample(), epochsDone: 3 });
    // One flipped bit in the weights: the encoding still decodes, only the seal sees it.
    const bytes = new Uint8Array(await readFile(store.path));
    bytes[bytes.length - 5]! ^= 0x10;
    await writeFile(store.path, bytes);
    assert.deepEqual(await store.load(), first);
    assert.match(said[0]!, /run\.ckpt: checksum mismatch/);
    assert.match(said[1]!, /resuming from the checkpoint before it, .*run\.ckpt\.prev/);
    // The next save keeps the good one as the one before (the damaged newest one is gone).
    const third = { ...sample(), epochsDone: 4 };
    await store.save(third);
    assert.deepEqual(await store.load(), third);
    await writeFile(store.path, (await readFile(store.path)).subarray(0, 100));
    assert.deepEqual(await store.load(), first, "the one before the damaged one is still there");
    await store.save({ ...sample(), epochsDone: 5 });
    said.length = 0;
    for (const f of [store.path, `${store.path}.prev`]) await writeFile(f, (await readFile(f)).subarray(0, 100));
    assert.equal(await store.load(), null);
    assert.equal(said.length, 3, said.join("\n"));
    assert.match(said[1]!, /run\.ckpt\.prev: checksum mismatch over \d+ bytes/);
    assert.match(said[2]!, /starting over/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("fileCheckpointStore() loads a checkpoint written before checkpoints were sealed", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ckpt-"));
  try {
    const path = join(dir, "old.ckpt");
    await writeFile(path, encodeCheckpoint(sample()));
    assert.deepEqual(await fileCheckpointStore(path).load(), sample());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
