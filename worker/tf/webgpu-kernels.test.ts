// Every kernel a ResNet training step runs on the webgpu backend, against the stock cpu backend
// (relative error < 1e-4), on SwiftShader's Vulkan in CI. Shapes are tiny: SwiftShader is a CPU.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { makeBatchNormRelu, type BatchNormState } from "../model/batch-norm-relu.ts";
import { buildResNetV2 } from "../model/resnet-v2.ts";
import { AdamW } from "../train/adamw.ts";
import { pseudoRandom, relErr } from "./test-backends.ts";
import { runOnAsync, webgpuSkipReason } from "./webgpu-test-backend.ts";

const skip = await webgpuSkipReason();
if (skip) console.log(`# webgpu kernel tests skipped: ${skip}`);

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);
const rand = (shape: number[], seed: number) => tf.tensor(pseudoRandom(prod(shape), seed), shape);

/** Kernels checked by a case below (engine-level names, as tf.profile lists them). */
const covered = new Set<string>();

async function expectSame(name: string, kernels: string[], f: () => tf.Tensor | tf.Tensor[], tol = 1e-4): Promise<void> {
  const got = await runOnAsync("webgpu", f);
  const want = await runOnAsync("cpu", f);
  got.forEach((g, i) => {
    const e = relErr(g, want[i]!);
    assert.ok(e < tol, `${name} output ${i}: relative error ${e.toExponential(2)} ≥ ${tol}`);
  });
  for (const k of kernels) covered.add(k);
}

// The model's convolutions (kernel/stride, channels) at 8×8, batch 2: stem, bottleneck 1×1 and 3×3,
// the strided 1×1 that opens stages 1 and 2 and its projection shortcut. The 32×32 ones have ≥ 2000
// output pixels: the filter gradient's matMul then splits its long dimension (tfjs's split-K
// program, with atomics), as it does for every layer at batch 64.
const convs = [
  { k: 3, s: 1, cin: 3, cout: 8, size: 8 },
  { k: 1, s: 1, cin: 8, cout: 16, size: 8 },
  { k: 3, s: 1, cin: 8, cout: 8, size: 8 },
  { k: 1, s: 2, cin: 16, cout: 8, size: 8 },
  { k: 1, s: 2, cin: 16, cout: 32, size: 8 },
  { k: 3, s: 1, cin: 4, cout: 8, size: 32 },
  { k: 1, s: 1, cin: 8, cout: 32, size: 32 },
] as const;

for (const { k, s, cin, cout, size } of convs) {
  const label = `${k}×${k}/${s} ${cin}→${cout} ${size}×${size}`;
  const xShape = [2, size, size, cin];
  const fShape = [k, k, cin, cout];
  const dyShape = [2, size / s, size / s, cout];
  const attrs = { strides: [s, s], pad: "same", dataFormat: "NHWC" };
  test(`webgpu conv ${label}: forward with bias, dx and dW equal cpu's`, { skip }, async () => {
    await expectSame(`FusedConv2D ${label}`, ["FusedConv2D"], () =>
      tf.fused.conv2d({ x: rand(xShape, 1) as tf.Tensor4D, filter: rand(fShape, 2) as tf.Tensor4D, strides: s, pad: "same", bias: rand([cout], 3) }));
    await expectSame(`Conv2DBackpropInput ${label}`, ["Conv2DBackpropInput"], () =>
      tf.engine().runKernel("Conv2DBackpropInput", { dy: rand(dyShape, 4), filter: rand(fShape, 2) },
        { ...attrs, inputShape: xShape } as never) as tf.Tensor);
    await expectSame(`Conv2DBackpropFilter ${label}`, ["Conv2DBackpropFilter"], () =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x: rand(xShape, 1), dy: rand(dyShape, 4) },
        { ...attrs, filterShape: fShape } as never) as tf.Tensor);
  });
}

/** Batch norm + ReLU forward (training and inference), its three gradients and the moving statistics. */
async function bnRelu(backend: "webgpu" | "cpu", c: number, hw: number): Promise<Float64Array[]> {
  await tf.setBackend(backend);
  const fused = makeBatchNormRelu(tf);
  const v = (values: Float32Array) => tf.variable(tf.tensor1d(values));
  const state: BatchNormState = {
    gamma: v(pseudoRandom(c, 5).map((a) => 1 + a)), beta: v(pseudoRandom(c, 6)),
    movingMean: v(new Float32Array(c)), movingVariance: v(new Float32Array(c).fill(1)), momentum: 0.99, epsilon: 1e-3,
  };
  const outs = tf.tidy(() => {
    const x = tf.add(tf.mul(rand([2, hw, hw, c], 7), 3), 0.4) as tf.Tensor4D;
    const w = rand([2, hw, hw, c], 8);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(fused(x, state, true), w)) as tf.Scalar, [state.gamma, state.beta]);
    const dx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(fused(xx as tf.Tensor4D, state, true), w)))(x);
    const inference = fused(x, state, false);
    return [value, dx, grads[state.gamma.name]!, grads[state.beta.name]!, inference, state.movingMean.clone(), state.movingVariance.clone()];
  });
  const values = await Promise.all(outs.map(async (t) => Float64Array.from(await t.data())));
  tf.dispose([...outs, state.gamma, state.beta, state.movingMean, state.movingVariance]);
  return values;
}

test("webgpu batch-norm-ReLU (our WGSL kernels): forward, dx, dγ, dβ, inference and moving statistics equal cpu's", { skip }, async () => {
  // 16×16: 512 rows per channel, reduced in 16 chunks and then across them.
  for (const [c, hw] of [[8, 4], [20, 4], [8, 16]] as const) {
    const got = await bnRelu("webgpu", c, hw);
    const want = await bnRelu("cpu", c, hw);
    const names = ["loss", "dx", "dγ", "dβ", "inference", "moving mean", "moving variance"];
    got.forEach((g, i) => {
      const e = relErr(g, want[i]!);
      assert.ok(e < 1e-4, `C=${c} ${hw}×${hw} ${names[i]}: relative error ${e.toExponential(2)}`);
    });
  }
  for (const k of ["ResNetBatchNormReluTrain", "ResNetBatchNormReluGrad", "ResNetBatchNormReluInfer"]) covered.add(k);
});

/** Two AdamW steps (one variable excluded from the decay) on `backend`: weights, then moments. */
async function adamwSteps(backend: "webgpu" | "cpu"): Promise<Float64Array[]> {
  await tf.setBackend(backend);
  const vars = [tf.variable(rand([3, 3, 4, 5], 20), true, `adamw_${backend}_kernel`), tf.variable(rand([5], 21), true, `adamw_${backend}_bias`)];
  const opt = new AdamW(tf, vars, { weightDecay: 0.15, exclude: ["bias"] });
  for (const [seed, lr] of [[22, 1e-2], [24, 3e-3]] as const) {
    const grads = [rand([3, 3, 4, 5], seed), rand([5], seed + 1)];
    opt.applyGradients(grads, { lr });
    tf.dispose(grads);
  }
  const state = await opt.exportState();
  const out = [...await Promise.all(vars.map(async (v) => Float64Array.from(await v.data()))), ...[...state.m, ...state.v].map((a) => Float64Array.from(a))];
  opt.dispose();
  tf.dispose(vars);
  return out;
}

test("webgpu AdamW step (our fused WGSL kernel: decay, moments, update) equals the generic ops on cpu", { skip }, async () => {
  const got = await adamwSteps("webgpu");
  const want = await adamwSteps("cpu");
  got.forEach((g, i) => {
    const e = relErr(g, want[i]!);
    assert.ok(e < 1e-4, `AdamW output ${i} (weights, then m, then v): relative error ${e.toExponential(2)}`);
  });
  covered.add("ResNetAdamWStep");
});

test("webgpu elementwise, reduction and loss kernels equal cpu's", { skip }, async () => {
  const a = () => rand([6, 10], 9);
  const b = () => rand([6, 10], 10);
  const labels = () => tf.tensor1d([1, 3, 9, 0, 2, 2], "int32");
  await expectSame("Sum over leading axes (ours)", ["Sum"], () => tf.sum(rand([2, 3, 3, 12], 11), [0, 1, 2]));
  await expectSame("Sum over the last axis (stock)", ["Sum"], () => tf.sum(a(), 1));
  await expectSame("Mean (average pool)", ["Mean"], () => tf.mean(rand([2, 3, 3, 12], 12), [1, 2]));
  await expectSame("Mean (scalar)", ["Mean"], () => tf.mean(a()));
  await expectSame("BatchMatMul (dense)", ["BatchMatMul"], () => tf.matMul(rand([4, 12], 13), rand([12, 10], 14)));
  await expectSame("BatchMatMul (transposed, dense gradient)", ["BatchMatMul"], () => tf.matMul(rand([4, 12], 13), rand([4, 10], 14), true, false));
  await expectSame("Add Sub Mul RealDiv", ["Add", "Sub", "Multiply", "RealDiv"], () => [tf.add(a(), b()), tf.sub(a(), b()), tf.mul(a(), b()), tf.div(a(), tf.add(tf.abs(b()), 1))]);
  await expectSame("Square Sqrt Exp Log Max Neg", ["Square", "Sqrt", "Exp", "Log", "Max", "Neg", "Abs"],
    () => [tf.square(a()), tf.sqrt(tf.abs(a())), tf.exp(a()), tf.log(tf.add(tf.abs(a()), 0.1)), tf.max(a(), 1), tf.neg(a())]);
  await expectSame("logSumExp, oneHot, softmax", ["OneHot", "Softmax", "Reshape", "Cast"],
    () => [tf.logSumExp(a(), 1), tf.oneHot(labels(), 10), tf.softmax(a()), tf.cast(labels(), "float32")]);
  await expectSame("argMax, equal (accuracy)", ["ArgMax", "Equal", "Cast"],
    () => tf.sum(tf.cast(tf.equal(tf.argMax(a(), 1), labels()), "float32")));
  await expectSame("softmax cross-entropy and its gradient", ["Softmax", "Sum", "Max", "Exp", "Log"], () => {
    const onehot = tf.oneHot(labels(), 10);
    return tf.grad((l: tf.Tensor) => tf.losses.softmaxCrossEntropy(onehot, l))(a());
  });
});

test("every kernel of a ResNet training step and evaluation on webgpu is one checked above", { skip }, async () => {
  await tf.setBackend("webgpu");
  const model = buildResNetV2(tf, { depth: 11, imageSize: 8, seed: 2 });
  const optimizer = new AdamW(tf, model.trainableVariables, { weightDecay: 0.15 });
  const x = rand([2, 8, 8, 3], 15) as tf.Tensor4D;
  const y = tf.tensor1d([1, 7], "int32");
  const info = await tf.profile(() => {
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => {
        const logits = model.forward(x, { training: true });
        tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), "float32"));
        return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, tf.oneHot(y, 10)), 1))) as tf.Scalar;
      }, model.trainableVariables as tf.Variable[]);
      optimizer.applyGradients(model.trainableVariables.map((v) => grads[v.name] ?? null), { lr: 1e-3 });
      model.predict(x);
    });
  });
  // tf.profile lists op scopes too ("fusedConv2d__op"): keep the names that are kernels.
  const used = new Set(info.kernels.map((k) => k.name).filter((k) => tf.getKernel(k, "webgpu") !== undefined));
  assert.ok(used.has("ResNetBatchNormReluTrain") && used.has("Conv2DBackpropFilter"), `profiled kernels: ${[...used].join(", ")}`);
  // Kernels that move no numbers: views and copies of the same buffer.
  for (const k of ["Reshape", "Identity", "Pack", "ZerosLike", "Fill", "OnesLike"]) used.delete(k);
  const unchecked = [...used].filter((k) => !covered.has(k)).sort();
  assert.deepEqual(unchecked, [], `kernels run by training but not compared with cpu: ${unchecked.join(", ")}`);
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
});
