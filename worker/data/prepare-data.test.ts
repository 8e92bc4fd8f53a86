import assert from "node:assert/strict";
import { test } from "node:test";
import type { ImageSet } from "./cifar10-format.ts";
import { type DataOptions, prepareData } from "./prepare-data.ts";

/** 1000 grey 4×4 images, 100 per class; each image's pixels hold its own index mod 256 and its class. */
function balancedSet(n = 1000): ImageSet {
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  const images = new Uint8Array(n * 16);
  for (let i = 0; i < n; i++) {
    images.fill(i % 256, i * 16, i * 16 + 15);
    images[i * 16 + 15] = labels[i]!;
  }
  return { imageSize: 4, channels: 1, labels, images };
}

const options = (extra: Partial<DataOptions>): DataOptions => ({
  dataset: "fashion-mnist", validationSize: 50, stratified: true, seed: 1, shift: 0, flip: false, ...extra,
});
const perClass = (labels: Uint8Array) => Array.from({ length: 10 }, (_, c) => labels.filter((l) => l === c).length);

test("prepareData() with trainSize takes a stratified subset first, then splits it; one channel stays one channel", () => {
  const raw = { train: balancedSet(), test: balancedSet(100) };
  const d = prepareData(raw, options({ trainSize: 200 }));
  assert.equal(d.channels, 1);
  assert.equal(d.mean.length, 16);
  assert.equal(d.train.count, 150);
  assert.equal(d.validation.count, 50);
  assert.deepEqual(perClass(d.train.labels), Array(10).fill(15));
  assert.deepEqual(perClass(d.validation.labels), Array(10).fill(5));
  // No image is in both, and each kept its own label (the last pixel holds it).
  const ids = (t: typeof d.train) => Array.from({ length: t.count }, (_, k) => t.pixels[k * 16]! + 256 * t.pixels[k * 16 + 15]!);
  const train = new Set(ids(d.train));
  assert.equal(train.size, 150);
  assert.ok(ids(d.validation).every((id) => !train.has(id)));
  for (const t of [d.train, d.validation]) {
    for (let k = 0; k < t.count; k++) assert.equal(t.pixels[k * 16 + 15], t.labels[k]);
  }
  // Seeded: the same seed draws the same subset, another seed another one.
  assert.deepEqual(prepareData(raw, options({ trainSize: 200 })).train.pixels, d.train.pixels);
  assert.notDeepEqual(prepareData(raw, options({ trainSize: 200, seed: 2 })).train.pixels, d.train.pixels);
  // Without trainSize every record is used; with validation "test" the subset is the training set.
  assert.equal(prepareData(raw, options({})).train.count, 950);
  const onTest = prepareData(raw, options({ trainSize: 300, validation: "test", validationSize: 100 }));
  assert.deepEqual([onTest.train.count, onTest.validation.count], [300, 100]);
  assert.deepEqual(perClass(onTest.train.labels), Array(10).fill(30));
});
