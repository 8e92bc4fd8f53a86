import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendsReady, pseudoRandom, relErr } from "../tf/test-backends.ts";
import { AdamW } from "../train/adamw.ts";
import { buildResNetV2 } from "./resnet-v2.ts";
import { assertSameStep, stepOn, trainStep } from "./test-training.ts";

before(backendsReady);

test("a full ResNet56v2 training step (forward, backward, AdamW) gives the same loss and weights on wasm and stock cpu", () => {
  // 8×8 images keep the stock cpu backend (whose conv gradients run at ~0.01 GFLOP/s) to seconds;
  // every layer, kernel shape and stride of the 32×32 network is exercised.
  const options = { depth: 56, imageSize: 8, seed: 3 };
  assertSameStep(stepOn("wasm", options, 2), stepOn("cpu", options, 2), { loss: 1e-4, weights: 1e-4 });
});

test("training on wasm leaks no tensors: tf.memory().numTensors is flat across 20 steps", () => {
  tf.setBackend("wasm");
  const model = buildResNetV2(tf, { depth: 11, imageSize: 16 });
  const optimizer = new AdamW(tf, model.trainableVariables, { weightDecay: 0.15 });
  const x = tf.randomUniform([4, 16, 16, 3]) as tf.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], "int32"), 10) as tf.Tensor2D;
  trainStep(model, optimizer, x, labels);
  const counts: number[] = [];
  for (let i = 0; i < 20; i++) {
    trainStep(model, optimizer, x, labels);
    counts.push(tf.memory().numTensors);
  }
  assert.ok(counts.every((c) => c === counts[0]), `numTensors per step: ${counts.join(", ")}`);
  tf.dispose([x, labels]);
  optimizer.dispose();
  model.dispose();
});

test("a small ResNet learns 32×32 images on wasm in seconds", () => {
  tf.setBackend("wasm");
  // Two classes told apart by which half of the image is bright, plus noise.
  const n = 32;
  const pixels = new Float32Array(n * 32 * 32 * 3);
  const noise = pseudoRandom(pixels.length, 12);
  const cls: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    cls.push(c);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let ch = 0; ch < 3; ch++) {
      const idx = ((i * 32 + y) * 32 + x) * 3 + ch;
      pixels[idx] = ((c === 0) === (x < 16) ? 0.5 : -0.5) + noise[idx]!;
    }
  }
  const xs = tf.tensor(pixels, [n, 32, 32, 3]) as tf.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(cls, "int32"), 10) as tf.Tensor2D;
  const model = buildResNetV2(tf, { depth: 11, seed: 2 });
  const optimizer = new AdamW(tf, model.trainableVariables, { weightDecay: 0 });
  const t0 = performance.now();
  const losses: number[] = [];
  for (let i = 0; i < 8; i++) losses.push(trainStep(model, optimizer, xs, labels, 3e-3));
  const seconds = (performance.now() - t0) / 1000;
  // Batch statistics: after 8 steps the moving ones (momentum 0.99) are still mostly their init.
  const logits = model.forward(xs, { training: true });
  const acc = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(cls, "int32")), "float32")).dataSync()[0]!);
  logits.dispose();
  assert.ok(losses.at(-1)! < losses[0]! / 2, `loss ${losses.map((l) => l.toFixed(3)).join(" → ")}`);
  assert.ok(acc >= 0.9, `training accuracy ${acc}`);
  assert.ok(seconds < 60, `8 steps took ${seconds.toFixed(1)} s`);
  tf.dispose([xs, labels]);
  optimizer.dispose();
  model.dispose();
});

test("inference mode (moving statistics) gives the same logits on wasm and stock cpu after a few training steps", () => {
  const run = (backend: "wasm" | "cpu") => {
    tf.setBackend(backend);
    const model = buildResNetV2(tf, { depth: 11, imageSize: 12, seed: 4 });
    const optimizer = new AdamW(tf, model.trainableVariables, { weightDecay: 0.15 });
    const x = tf.tensor(pseudoRandom(3 * 12 * 12 * 3, 13), [3, 12, 12, 3]) as tf.Tensor4D;
    const labels = tf.oneHot(tf.tensor1d([1, 4, 7], "int32"), 10) as tf.Tensor2D;
    for (let i = 0; i < 3; i++) trainStep(model, optimizer, x, labels);
    const logits = model.forward(x, { training: false });
    const values = Float64Array.from(logits.dataSync());
    tf.dispose([x, labels, logits]);
    optimizer.dispose();
    model.dispose();
    return values;
  };
  const wasm = run("wasm");
  const cpu = run("cpu");
  assert.ok(relErr(wasm, cpu) < 1e-3, `rel err ${relErr(wasm, cpu)}`);
});
