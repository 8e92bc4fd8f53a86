import { test } from "node:test";
import assert from "node:assert/strict";
import { gatherHWC, normalizeInto, pixelMean } from "./preprocess.ts";
import { generateSynthetic } from "./synthetic.ts";

test("gatherHWC() turns the file's R,G,B planes into HWC pixels for the chosen records", () => {
  // Two 2×2 images; image n pixel p channel ch = 100n + 10ch + p.
  const images = Uint8Array.from({ length: 24 }, (_, i) => 100 * Math.floor(i / 12) + 10 * Math.floor((i % 12) / 4) + (i % 4));
  const t = gatherHWC({ imageSize: 2, labels: Uint8Array.from([4, 7]), images }, Int32Array.from([1]));
  assert.equal(t.count, 1);
  assert.deepEqual(Array.from(t.labels), [7]);
  assert.deepEqual(Array.from(t.pixels), [100, 110, 120, 101, 111, 121, 102, 112, 122, 103, 113, 123]);
});

test("pixelMean() and normalizeInto() scale to [0, 1] and subtract the per-pixel mean of the training subset", () => {
  const t = gatherHWC({ imageSize: 1, labels: Uint8Array.from([0, 1]), images: Uint8Array.from([0, 51, 255, 255, 153, 255]) });
  const mean = pixelMean(t);
  assert.deepEqual(Array.from(mean), [0.5, 0.4, 1].map(Math.fround));
  const out = new Float32Array(3);
  normalizeInto(t, 0, mean, out);
  assert.deepEqual(Array.from(out, (v) => Math.round(v * 1e6) / 1e6), [-0.5, -0.2, 0]);
  // Over the whole subset the normalized images have zero mean at every pixel.
  const set = gatherHWC(generateSynthetic({ size: 50, imageSize: 8, seed: 1 }));
  const m = pixelMean(set);
  const sum = new Float64Array(m.length);
  const buf = new Float32Array(m.length);
  for (let k = 0; k < set.count; k++) {
    normalizeInto(set, k, m, buf);
    buf.forEach((v, j) => (sum[j]! += v));
  }
  assert.ok(sum.every((s) => Math.abs(s / set.count) < 1e-6));
});

test("generateSynthetic() is deterministic, balanced, and seed-dependent", () => {
  const a = generateSynthetic({ size: 100, imageSize: 8, seed: 1 });
  const b = generateSynthetic({ size: 100, imageSize: 8, seed: 1 });
  const c = generateSynthetic({ size: 100, imageSize: 8, seed: 2 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.images, c.images);
  assert.equal(a.images.length, 100 * 3 * 64);
  const counts = new Array(10).fill(0);
  a.labels.forEach((l) => counts[l]++);
  assert.deepEqual(counts, new Array(10).fill(10));
});
