// One ResNet training step (forward, backward, AdamW) on webgpu against wasm, and tensors that stay
// flat over steps, on SwiftShader's Vulkan in CI. 8×8 images and batch 2: SwiftShader is a CPU.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendsReady, pseudoRandom, relErr } from "../tf/test-backends.ts";
import { webgpuSkipReason } from "../tf/webgpu-test-backend.ts";
import { AdamW } from "../train/adamw.ts";
import { buildResNetV2 } from "./resnet-v2.ts";

await backendsReady(); // wasm (with our kernels) and cpu
const skip = await webgpuSkipReason();
if (skip) console.log(`# webgpu training-step tests skipped: ${skip}`);

const options = { depth: 20, imageSize: 8, seed: 3 };
const batch = 2;

/** Steps of Keras-style training; returns each step's loss, then the weights and gradients of the last one. */
async function train(backend: "webgpu" | "wasm", steps: number, onStep?: () => void) {
  await tf.setBackend(backend);
  const model = buildResNetV2(tf, options);
  const optimizer = new AdamW(tf, model.trainableVariables, { weightDecay: 0.15 });
  const size = options.imageSize;
  const x = tf.tensor(pseudoRandom(batch * size * size * 3, 11), [batch, size, size, 3]) as tf.Tensor4D;
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([3, 8], "int32"), 10)) as tf.Tensor2D;
  const losses: number[] = [];
  let grads: Float64Array[] = [];
  for (let i = 0; i < steps; i++) {
    const [loss, g] = tf.tidy(() => {
      const { value, grads: gs } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(labels, model.forward(x, { training: true })) as tf.Scalar,
        model.trainableVariables as tf.Variable[],
      );
      optimizer.applyGradients(model.trainableVariables.map((v) => gs[v.name]), { lr: 1e-3 });
      return [value, tf.concat(model.trainableVariables.map((v) => tf.reshape(gs[v.name]!, [-1])))];
    });
    losses.push((await loss.data())[0]!);
    grads = [Float64Array.from(await g.data())];
    tf.dispose([loss, g]);
    onStep?.();
  }
  const weights = await Promise.all(model.weights.map(async (w) => Float64Array.from(await w.variable.data())));
  tf.dispose([x, labels]);
  optimizer.dispose();
  model.dispose();
  return { losses, grads: grads[0]!, weights: Float64Array.from(weights.flatMap((w) => [...w])) };
}

test("a ResNet20v2 training step (forward, backward, AdamW) on webgpu equals wasm's within 1e-3", { skip }, async () => {
  const gpu = await train("webgpu", 1);
  const wasm = await train("wasm", 1);
  assert.ok(relErr(gpu.losses, wasm.losses) < 1e-3, `loss ${gpu.losses[0]} vs ${wasm.losses[0]}`);
  const eg = relErr(gpu.grads, wasm.grads);
  assert.ok(eg < 1e-3, `all gradients: relative error ${eg.toExponential(2)}`);
  const ew = relErr(gpu.weights, wasm.weights);
  assert.ok(ew < 1e-3, `all weights and BN statistics after the step: relative error ${ew.toExponential(2)}`);
});

test("webgpu training keeps tf.memory().numTensors flat from step to step and frees everything after", { skip }, async () => {
  await tf.setBackend("webgpu");
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  const { losses } = await train("webgpu", 4, () => counts.push(tf.memory().numTensors));
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
  assert.deepEqual(counts.slice(1), counts.slice(0, -1), `live tensors after each step: ${counts}`);
  assert.equal(tf.memory().numTensors, before, "tensors left after the model and optimizer were disposed");
});
