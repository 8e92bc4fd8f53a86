import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { makeBatchNormRelu } from "../model/batch-norm-relu.ts";
import { ADAMW_STEP } from "./webgpu-kernels.ts";
import { backendsReady, convCaseData, nativeAddon, nativeSkipReason, pseudoRandom, relErr, runOn } from "./test-backends.ts";

const skip = nativeSkipReason;
before(async () => {
  await backendsReady();
  // Tiny shapes would otherwise run on one thread (below the grain): test the multi-threaded paths.
  if (!skip) nativeAddon().setGrain(0);
});

// Every convolution ResNetV2 uses (1×1 and 3×3, stride 1 and 2, the 3×3 stride-2 shortcut option,
// channel counts of the real network), odd and non-square sizes, batch 1, channels that are not
// multiples of 8 (oneDNN's blocked kernels pad them).
const convCases = [
  { n: 2, h: 8, w: 8, cin: 16, cout: 16, k: 3, s: 1 },
  { n: 1, h: 7, w: 9, cin: 3, cout: 16, k: 3, s: 1 }, // the stem on an odd map
  { n: 2, h: 9, w: 10, cin: 4, cout: 8, k: 3, s: 2 },
  { n: 1, h: 5, w: 5, cin: 6, cout: 4, k: 3, s: 2 },
  { n: 2, h: 8, w: 8, cin: 64, cout: 128, k: 3, s: 2 }, // shortcutKernel: 3
  { n: 3, h: 8, w: 9, cin: 6, cout: 4, k: 1, s: 1 },
  { n: 1, h: 7, w: 7, cin: 4, cout: 12, k: 1, s: 1 },
  { n: 2, h: 8, w: 8, cin: 16, cout: 64, k: 1, s: 1 },
  { n: 2, h: 8, w: 8, cin: 64, cout: 16, k: 1, s: 1 },
  { n: 2, h: 9, w: 10, cin: 8, cout: 16, k: 1, s: 2 },
  { n: 1, h: 8, w: 8, cin: 64, cout: 128, k: 1, s: 2 }, // the stage shortcut
  { n: 1, h: 1, w: 2, cin: 2, cout: 3, k: 3, s: 1 },
  { n: 2, h: 3, w: 3, cin: 5, cout: 7, k: 3, s: 2 },
];

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const close = (got: Float64Array[], want: Float64Array[], tol = 1e-4) =>
  got.forEach((g, i) => assert.ok(relErr(g, want[i]!) < tol, `output ${i}: rel err ${relErr(g, want[i]!)}`));

for (const c of convCases) {
  const { label, xShape, wShape, attrs, x, w, dy, dyShape } = convCaseData(c);
  const b = pseudoRandom(c.cout, 4);

  test(`native conv forward with bias (FusedConv2D) and without (Conv2D) match stock cpu (${label})`, { skip }, () => {
    const f = () => [
      tf.fused.conv2d({ x: tf.tensor4d(x, xShape as never), filter: tf.tensor4d(w, wShape as never), strides: c.s, pad: "same", bias: tf.tensor1d(b) }),
      tf.conv2d(tf.tensor4d(x, xShape as never), tf.tensor4d(w, wShape as never), c.s, "same"),
    ];
    close(runOn("native", f), runOn("cpu", f));
  });

  test(`native Conv2DBackpropInput matches stock cpu (${label})`, { skip }, () => {
    const f = () => tf.engine().runKernel("Conv2DBackpropInput", { dy: tf.tensor(dy, dyShape), filter: tf.tensor(w, wShape) },
      { ...attrs, inputShape: xShape } as never) as tf.Tensor;
    close(runOn("native", f), runOn("cpu", f));
  });

  test(`native Conv2DBackpropFilter matches stock cpu (${label})`, { skip }, () => {
    const f = () => tf.engine().runKernel("Conv2DBackpropFilter", { x: tf.tensor(x, xShape), dy: tf.tensor(dy, dyShape) },
      { ...attrs, filterShape: wShape } as never) as tf.Tensor;
    close(runOn("native", f), runOn("cpu", f));
  });
}

test("native convolutions run in oneDNN (not a fallback) and cache one primitive per shape", { skip }, () => {
  const f = () => tf.conv2d(tf.ones([2, 6, 6, 5]) as tf.Tensor4D, tf.ones([3, 3, 5, 7]) as tf.Tensor4D, 1, "same");
  runOn("native", f);
  const before = nativeAddon().implementations().split("\n").filter((l) => l.includes("2,6,6,5,7,3,3,1,1,1,1,6,6"));
  runOn("native", f);
  const after = nativeAddon().implementations().split("\n").filter((l) => l.includes("2,6,6,5,7,3,3,1,1,1,1,6,6"));
  assert.equal(before.length, 1, nativeAddon().implementations());
  assert.deepEqual(after, before);
});

test("native batch-norm-ReLU (training forward, its gradient, inference) matches the same op on stock cpu", { skip }, () => {
  for (const [n, h, w, c] of [[3, 5, 4, 6], [2, 8, 8, 16], [1, 4, 4, 64]] as const) {
    const shape = [n, h, w, c];
    const xv = pseudoRandom(size(shape), 7).map((v, i) => v * 3 + (i % c)); // non-zero channel means
    const gv = pseudoRandom(c, 8).map((v) => v + 1);
    const bv = pseudoRandom(c, 9);
    const drv = pseudoRandom(size(shape), 10);
    const f = () => {
      const bnRelu = makeBatchNormRelu(tf);
      const bn = {
        gamma: tf.variable(tf.tensor1d(gv)), beta: tf.variable(tf.tensor1d(bv)),
        movingMean: tf.variable(tf.tensor1d(pseudoRandom(c, 11))), movingVariance: tf.variable(tf.tensor1d(gv.map((v) => v * v))),
        momentum: 0.99, epsilon: 1e-3,
      };
      const x = tf.variable(tf.tensor4d(xv, shape as never));
      const dr = tf.tensor4d(drv, shape as never);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(bnRelu(x as tf.Tensor4D as never, bn, true), dr)),
        [x, bn.gamma, bn.beta]);
      const infer = bnRelu(x as never, bn, false);
      const outs = [value, grads[x.name]!, grads[bn.gamma.name]!, grads[bn.beta.name]!, bn.movingMean.clone(), bn.movingVariance.clone(), infer];
      for (const v of [x, bn.gamma, bn.beta, bn.movingMean, bn.movingVariance]) v.dispose();
      return outs;
    };
    close(runOn("native", f), runOn("cpu", f));
  }
});

test("native Sum over leading axes, Add and the fused AdamW update match stock cpu", { skip }, () => {
  const v = pseudoRandom(4 * 9 * 9 * 70, 12);
  const u = pseudoRandom(4 * 9 * 9 * 70, 13);
  const sums = () => [tf.sum(tf.tensor(v, [4, 9, 9, 70]), [0, 1, 2]), tf.sum(tf.tensor(v, [4, 9, 9, 70]), 0, true),
    tf.add(tf.tensor(v, [4, 9, 9, 70]), tf.tensor(u, [4, 9, 9, 70]))];
  close(runOn("native", sums), runOn("cpu", sums), 1e-6);
  const [w, g, m, s] = [14, 15, 16, 17].map((seed) => pseudoRandom(5000, seed));
  const attrs = { decay: 1.5e-4, beta1: 0.9, beta2: 0.999, alpha: 3e-4, epsilon: 1e-7 };
  const native = runOn("native", () => tf.engine().runKernel(ADAMW_STEP,
    { w: tf.tensor(w!), g: tf.tensor(g!), m: tf.tensor(m!), v: tf.tensor(s!.map(Math.abs)) }, attrs) as tf.Tensor[]);
  // The same update written as the tf ops of worker/train/adamw.ts, on cpu.
  const reference = runOn("cpu", () => {
    const [wt, gt, mt, vt] = [tf.tensor(w!), tf.tensor(g!), tf.tensor(m!), tf.tensor(s!.map(Math.abs))];
    const w1 = tf.sub(wt, tf.mul(wt, attrs.decay));
    const m1 = tf.add(mt, tf.mul(tf.sub(gt, mt), 1 - attrs.beta1));
    const v1 = tf.add(vt, tf.mul(tf.sub(tf.square(gt), vt), 1 - attrs.beta2));
    return [tf.sub(w1, tf.div(tf.mul(m1, attrs.alpha), tf.add(tf.sqrt(v1), attrs.epsilon))), m1, v1];
  });
  close(native, reference, 1e-6);
});

test("native kernels reject pointers outside the wasm heap with a RangeError", { skip }, () => {
  const heap = new ArrayBuffer(1024);
  assert.throws(() => nativeAddon().channelSum(heap, 0, 1000, 1, 0), RangeError);
  assert.throws(() => nativeAddon().add(heap, 0, 4, 8, -5), RangeError);
});
