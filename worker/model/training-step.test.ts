import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendsReady, pseudoRandom, relErr } from "../tf/test-backends.ts";
import { AdamW } from "../train/adamw.ts";
import { buildResNetV2, type ResNetModel, type ResNetV2Options } from "./resnet-v2.ts";

before(backendsReady);

/** One Keras-style step: softmax cross-entropy, gradients of every trainable variable, AdamW update. */
function trainStep(model: ResNetModel, optimizer: AdamW, x: tf.Tensor4D, labels: tf.Tensor2D, lr = 1e-3,
  onGrads?: (grads: tf.NamedTensorMap) => void): number {
  const loss = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, model.forward(x, { training: true })) as tf.Scalar,
      model.trainableVariables as tf.Variable[],
    );
    onGrads?.(grads);
    optimizer.applyGradients(model.trainableVariables.map((v) => grads[v.name]), { lr });
    return value;
  });
  const v = loss.dataSync()[0]!;
  loss.dispose();
  return v;
}

function stepOn(backend: "wasm" | "cpu", options: ResNetV2Options, batch: number) {
  tf.setBackend(backend);
  const size = options.imageSize ?? 32;
  const model = buildResNetV2(tf, options);
  const optimizer = new AdamW(tf, model.trainableVariables, { weightDecay: 0.15 });
  const x = tf.tensor(pseudoRandom(batch * size * size * 3, 11), [batch, size, size, 3]) as tf.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7) % 10), "int32"), 10) as tf.Tensor2D;
  const grads = new Map<string, Float64Array>();
  const loss = trainStep(model, optimizer, x, labels, 1e-3, (g) => {
    for (const w of model.weights) if (w.trainable) grads.set(w.name, Float64Array.from(g[w.variable.name]!.dataSync()));
  });
  const weights = new Map(model.weights.map((w) => [w.name, Float64Array.from(w.variable.dataSync())]));
  tf.dispose([x, labels]);
  optimizer.dispose();
  model.dispose();
  return { loss, grads, weights };
}

test("a full ResNet56v2 training step (forward, backward, AdamW) gives the same loss and weights on wasm and stock cpu", () => {
  // 8×8 images keep the stock cpu backend (whose conv gradients run at ~0.01 GFLOP/s) to seconds;
  // every layer, kernel shape and stride of the 32×32 network is exercised.
  const options = { depth: 56, imageSize: 8, seed: 3 };
  const wasm = stepOn("wasm", options, 2);
  const cpu = stepOn("cpu", options, 2);
  assert.ok(relErr([wasm.loss], [cpu.loss]) < 1e-4, `loss ${wasm.loss} vs ${cpu.loss}`);
  const all = (m: Map<string, Float64Array>) => Float64Array.from([...m.values()].flatMap((v) => [...v]));
  assert.ok(relErr(all(wasm.weights), all(cpu.weights)) < 1e-4, `all weights: rel err ${relErr(all(wasm.weights), all(cpu.weights))}`);
  const convBias = /(conv\d?|shortcut)\/bias$/;
  const norm = (v: Float64Array) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
  const gradScale = Math.max(...[...cpu.grads.values()].map(norm));
  for (const [name, g] of wasm.grads) {
    const want = cpu.grads.get(name)!;
    if (convBias.test(name)) {
      // Every conv output reaches the loss only through a batch norm, so a conv bias's true gradient
      // is 0 and both backends return float noise: it must stay noise-sized.
      assert.ok(norm(g) < 1e-5 * gradScale, `${name}: |grad| ${norm(g)} vs largest |grad| ${gradScale}`);
      continue;
    }
    assert.ok(relErr(g, want) < 1e-3, `gradient of ${name}: rel err ${relErr(g, want)}`);
  }
  for (const [name, w] of wasm.weights) {
    // Adam divides by √v + ε, so near-zero gradients (β, zero-initialised) amplify float noise into
    // weight noise of up to ±lr: per-variable weight checks on the kernels and BN moving statistics.
    if (!/kernel$|moving_/.test(name)) continue;
    assert.ok(relErr(w, cpu.weights.get(name)!) < 1e-3, `${name}: rel err ${relErr(w, cpu.weights.get(name)!)}`);
  }
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
