import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { encodeIdx, IdxFormatError, parseIdx } from "./idx-format.ts";
import { DEBIAN_FASHION_MNIST_DIR } from "./load-dataset.ts";
import { FASHION_MNIST_FILES, readFashionMnist } from "./read-fashion-mnist.ts";
import { makeFashionMnistFiles } from "./test-fixtures/fashion-mnist-files.ts";

async function withFiles(files: Record<string, Uint8Array>, fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), "fashion-read-"));
  try {
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("parseIdx() reads the header and rejects truncated, overlong and non-IDX files, naming the file", () => {
  const ok = parseIdx(encodeIdx([2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6])), "x.idx");
  assert.deepEqual(ok.dims, [2, 3]);
  assert.deepEqual([...ok.data], [1, 2, 3, 4, 5, 6]);
  const good = encodeIdx([4, 28, 28], new Uint8Array(4 * 784));
  const reject = (bytes: Uint8Array, pattern: RegExp) =>
    assert.throws(() => parseIdx(bytes, "train-images-idx3-ubyte"), (e: unknown) =>
      e instanceof IdxFormatError && e.file === "train-images-idx3-ubyte" && e.message.startsWith("train-images-idx3-ubyte: ") &&
      pattern.test(e.message));
  reject(good.subarray(0, good.length - 1), /truncated: the header says \[4, 28, 28\] = 3136 values, the file holds 3135/);
  reject(Uint8Array.from([...good, 0]), /corrupt: .* the file holds 3137/);
  reject(good.subarray(0, 9), /truncated: 9 bytes, the header of 3 dimensions needs 16/);
  reject(new TextEncoder().encode("<html>404</html>"), /not an IDX file/);
  reject(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 0]), /type 0x0d is not 0x08/);
});

test("readFashionMnist() pads 28×28 grey images to 32×32 with one channel and keeps the labels", async () => {
  const fixture = makeFashionMnistFiles({ train: 30, test: 10 });
  await withFiles(fixture.bytes, async (dir) => {
    const { train, test } = await readFashionMnist(dir);
    assert.equal(train.imageSize, 32);
    assert.equal(train.channels, 1);
    assert.equal(train.labels.length, 30);
    assert.equal(test.labels.length, 10);
    const raw = parseIdx(gunzipSync(fixture.bytes[FASHION_MNIST_FILES.trainImages]!), "x");
    const labels = parseIdx(gunzipSync(fixture.bytes[FASHION_MNIST_FILES.trainLabels]!), "y");
    assert.deepEqual([...train.labels], [...labels.data]);
    // Image 7: row r, column c of the original sits at (r + 2, c + 2); the 2-pixel frame is zero.
    const img = train.images.subarray(7 * 1024, 8 * 1024);
    for (let r = 0; r < 32; r++) {
      for (let c = 0; c < 32; c++) {
        const inside = r >= 2 && r < 30 && c >= 2 && c < 30;
        const expected = inside ? raw.data[7 * 784 + (r - 2) * 28 + (c - 2)]! : 0;
        assert.equal(img[r * 32 + c], expected, `pixel (${r}, ${c})`);
      }
    }
  });
});

test("readFashionMnist() names the file that is truncated, corrupt or inconsistent", async () => {
  const fixture = makeFashionMnistFiles({ train: 20, test: 10 });
  const broken = async (name: string, bytes: Uint8Array, pattern: RegExp) =>
    withFiles({ ...fixture.bytes, [name]: bytes }, async (dir) => {
      await assert.rejects(readFashionMnist(dir), (e: unknown) =>
        e instanceof IdxFormatError && e.file === join(dir, name) && pattern.test(e.message));
    });
  const images = fixture.bytes[FASHION_MNIST_FILES.trainImages]!;
  // A download cut short: the gzip stream ends early.
  await broken(FASHION_MNIST_FILES.trainImages, images.subarray(0, images.length - 100), /truncated or corrupt gzip data/);
  // A whole gzip of a short IDX file.
  const short = gunzipSync(images).subarray(0, 16 + 19 * 784 + 5);
  await broken(FASHION_MNIST_FILES.trainImages, gzipSync(short), /truncated: the header says \[20, 28, 28\]/);
  // Labels that do not match the images, or are out of range.
  await broken(FASHION_MNIST_FILES.testLabels, gzipSync(encodeIdx([9], new Uint8Array(9))), /holds 9 labels for the 10 images/);
  await broken(FASHION_MNIST_FILES.trainLabels, gzipSync(encodeIdx([20], new Uint8Array(20).fill(10))), /label 0 is 10; labels must be 0\.\.9/);
});

test("readFashionMnist() reads Debian's dataset-fashion-mnist: 60000 + 10000 images, 6000 and 1000 per class", {
  skip: existsSync(join(DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_FILES.trainImages))
    ? false
    : `needs Debian's package dataset-fashion-mnist (${DEBIAN_FASHION_MNIST_DIR}); apt-get install dataset-fashion-mnist`,
}, async () => {
  const { train, test } = await readFashionMnist(DEBIAN_FASHION_MNIST_DIR);
  assert.equal(train.labels.length, 60000);
  assert.equal(test.labels.length, 10000);
  const perClass = (labels: Uint8Array) => Array.from({ length: 10 }, (_, c) => labels.filter((l) => l === c).length);
  assert.deepEqual(perClass(train.labels), Array(10).fill(6000));
  assert.deepEqual(perClass(test.labels), Array(10).fill(1000));
  // Real images: a mean brightness of a garment on black, not noise and not blank (Fashion-MNIST's
  // published training mean is 0.286 of 255 over 28×28; the frame lowers it by 28²/32²).
  let sum = 0;
  for (const v of train.images) sum += v;
  const mean = sum / train.images.length / 255;
  assert.ok(Math.abs(mean - 0.286 * (784 / 1024)) < 0.01, `mean ${mean}`);
});
