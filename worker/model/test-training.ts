// Test helper: one Keras-style training step and a whole "build, step once, read back" run on a chosen
// backend, shared by the wasm-vs-cpu and native-vs-wasm step tests. Not a test file itself.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { pseudoRandom, relErr, useBackend } from "../tf/test-backends.ts";
import { AdamW } from "../train/adamw.ts";
import { buildResNetV2, type ResNetModel, type ResNetV2Options } from "./resnet-v2.ts";

/** One Keras-style step: softmax cross-entropy, gradients of every trainable variable, AdamW update. */
export function trainStep(model: ResNetModel, optimizer: AdamW, x: tf.Tensor4D, labels: tf.Tensor2D, lr = 1e-3,
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

/** Builds the model on `backend`, takes one step, and returns the loss, the gradients and the new weights. */
export function stepOn(backend: "native" | "wasm" | "cpu", options: ResNetV2Options, batch: number) {
  useBackend(backend);
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


type Step = ReturnType<typeof stepOn>;

/**
 * Asserts that two backends took the same training step: the loss and all weights within `tol`
 * (relative), every gradient and every kernel / BN moving statistic within 1e-3.
 */
export function assertSameStep(got: Step, want: Step, tol: { loss: number; weights: number }): void {
  assert.ok(relErr([got.loss], [want.loss]) < tol.loss, `loss ${got.loss} vs ${want.loss}`);
  const all = (m: Map<string, Float64Array>) => Float64Array.from([...m.values()].flatMap((v) => [...v]));
  assert.ok(relErr(all(got.weights), all(want.weights)) < tol.weights, `all weights: rel err ${relErr(all(got.weights), all(want.weights))}`);
  const convBias = /(conv\d?|shortcut)\/bias$/;
  const norm = (v: Float64Array) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
  const gradScale = Math.max(...[...want.grads.values()].map(norm));
  for (const [name, g] of got.grads) {
    if (convBias.test(name)) {
      // Every conv output reaches the loss only through a batch norm, so a conv bias's true gradient
      // is 0 and both backends return float noise: it must stay noise-sized.
      assert.ok(norm(g) < 1e-5 * gradScale, `${name}: |grad| ${norm(g)} vs largest |grad| ${gradScale}`);
      continue;
    }
    assert.ok(relErr(g, want.grads.get(name)!) < 1e-3, `gradient of ${name}: rel err ${relErr(g, want.grads.get(name)!)}`);
  }
  for (const [name, w] of got.weights) {
    // Adam divides by √v + ε, so near-zero gradients (β, zero-initialised) amplify float noise into
    // weight noise of up to ±lr: per-variable weight checks on the kernels and BN moving statistics.
    if (!/kernel$|moving_/.test(name)) continue;
    assert.ok(relErr(w, want.weights.get(name)!) < 1e-3, `${name}: rel err ${relErr(w, want.weights.get(name)!)}`);
  }
}
