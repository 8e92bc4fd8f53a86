import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Cifar10FormatError, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, encodeCifar10Batch, parseCifar10Batch, recordBytes,
} from "./cifar10-format.ts";
import { readCifar10 } from "./read-cifar10.ts";

function makeSet(n: number, imageSize = 32, offset = 0) {
  const labels = Uint8Array.from({ length: n }, (_, i) => (i + offset) % 10);
  const images = Uint8Array.from({ length: n * 3 * imageSize * imageSize }, (_, i) => (i * 7 + offset) & 255);
  return { imageSize, labels, images };
}

test("parseCifar10Batch() reads label bytes and R,G,B planes, and encodeCifar10Batch() inverts it", () => {
  const bytes = new Uint8Array(2 * recordBytes(2));
  // Record 0: label 3, R plane 1..4, G plane 5..8, B plane 9..12; record 1: label 9.
  bytes.set([3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 0);
  bytes.set([9, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32], 13);
  const set = parseCifar10Batch(bytes, { file: "x.bin", imageSize: 2 });
  assert.deepEqual(Array.from(set.labels), [3, 9]);
  assert.deepEqual(Array.from(set.images.subarray(0, 12)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual(encodeCifar10Batch(set), bytes);
});

test("parseCifar10Batch() names the file and record of a truncated file", () => {
  const bytes = encodeCifar10Batch(makeSet(3)).subarray(0, 2 * 3073 + 100);
  assert.throws(() => parseCifar10Batch(bytes, { file: "data_batch_2.bin" }), (e: unknown) => {
    assert.ok(e instanceof Cifar10FormatError);
    assert.equal(e.file, "data_batch_2.bin");
    assert.equal(e.record, 2);
    assert.match(e.message, /data_batch_2\.bin: truncated or corrupt.*record 2 has only 100 bytes/);
    return true;
  });
});

test("parseCifar10Batch() names the record with a label outside 0..9", () => {
  const bytes = encodeCifar10Batch(makeSet(5));
  bytes[3 * 3073] = 11;
  assert.throws(() => parseCifar10Batch(bytes, { file: "test_batch.bin" }), /test_batch\.bin: record 3 .*label 11; labels must be 0\.\.9/);
});

test("parseCifar10Batch() rejects a file with the wrong record count", () => {
  const bytes = encodeCifar10Batch(makeSet(4));
  assert.throws(() => parseCifar10Batch(bytes, { file: "f.bin", expectedRecords: 5 }), /f\.bin: expected 5 records of 3073 bytes, found 4/);
  assert.throws(() => parseCifar10Batch(new Uint8Array(0), { file: "e.bin" }), /e\.bin: the file holds no records/);
});

test("readCifar10() reads the five training files and the test file, in order", async () => {
  const dir = await mkdtemp(join(tmpdir(), "cifar-read-"));
  try {
    const inner = join(dir, "cifar-10-batches-bin");
    await mkdir(inner);
    for (const [i, f] of CIFAR10_TRAIN_FILES.entries()) await writeFile(join(inner, f), encodeCifar10Batch(makeSet(4, 32, i)));
    await writeFile(join(inner, CIFAR10_TEST_FILE), encodeCifar10Batch(makeSet(4, 32, 7)));
    const data = await readCifar10(dir, 4);
    assert.equal(data.train.labels.length, 20);
    assert.deepEqual(Array.from(data.train.labels.subarray(4, 8)), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(data.test.labels), [7, 8, 9, 0]);
    await writeFile(join(inner, CIFAR10_TEST_FILE), encodeCifar10Batch(makeSet(4)).subarray(0, 5000));
    await assert.rejects(readCifar10(dir, 4), /test_batch\.bin: truncated or corrupt.*record 1/);
    await rm(inner, { recursive: true });
    await assert.rejects(readCifar10(dir, 4), /CIFAR-10 not found in .*npm run data:cifar10/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
