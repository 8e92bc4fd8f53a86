import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { BN_RELU_GRAD, BN_RELU_TRAIN } from "./wasm-kernels.ts";
import { backendsReady, convCaseData, pseudoRandom, relErr, runOn } from "./test-backends.ts";

before(backendsReady);

// Every case ResNetV2 uses (1×1 and 3×3, stride 1 and 2, same padding) plus odd sizes, non-square
// maps, batch 1 and channel counts that are not multiples of 4.
const convCases = [
  { n: 2, h: 8, w: 8, cin: 16, cout: 16, k: 3, s: 1 },
  { n: 1, h: 7, w: 9, cin: 3, cout: 5, k: 3, s: 1 },
  { n: 2, h: 9, w: 10, cin: 4, cout: 8, k: 3, s: 2 },
  { n: 1, h: 5, w: 5, cin: 6, cout: 4, k: 3, s: 2 },
  { n: 3, h: 8, w: 9, cin: 6, cout: 4, k: 1, s: 1 },
  { n: 1, h: 7, w: 7, cin: 4, cout: 12, k: 1, s: 1 },
  { n: 2, h: 9, w: 10, cin: 8, cout: 16, k: 1, s: 2 },
  { n: 1, h: 8, w: 8, cin: 16, cout: 8, k: 1, s: 2 },
  { n: 1, h: 1, w: 2, cin: 2, cout: 3, k: 3, s: 1 },
  { n: 2, h: 3, w: 3, cin: 5, cout: 7, k: 3, s: 2 },
];

for (const c of convCases) {
  const { label, xShape, wShape, dyShape, attrs, x, w, dy } = convCaseData(c);

  test(`wasm Conv2DBackpropInput matches stock cpu (${label})`, () => {
    const f = () =>
      tf.engine().runKernel("Conv2DBackpropInput", { dy: tf.tensor(dy, dyShape), filter: tf.tensor(w, wShape) },
        { ...attrs, inputShape: xShape } as never) as tf.Tensor;
    const [got] = runOn("wasm", f);
    const [want] = runOn("cpu", f);
    assert.ok(relErr(got!, want!) < 1e-4, `rel err ${relErr(got!, want!)}`);
  });

  test(`wasm Conv2DBackpropFilter matches stock cpu (${label})`, () => {
    const f = () =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x: tf.tensor(x, xShape), dy: tf.tensor(dy, dyShape) },
        { ...attrs, filterShape: wShape } as never) as tf.Tensor;
    const [got] = runOn("wasm", f);
    const [want] = runOn("cpu", f);
    assert.ok(relErr(got!, want!) < 1e-4, `rel err ${relErr(got!, want!)}`);
  });
}

test("wasm conv gradients through tf.grads match stock cpu for a conv2d with stride 2", () => {
  const xs = pseudoRandom(2 * 9 * 9 * 4, 4);
  const ws = pseudoRandom(3 * 3 * 4 * 6, 5);
  const f = () => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, "same"))));
    return g([tf.tensor(xs, [2, 9, 9, 4]), tf.tensor(ws, [3, 3, 4, 6])]);
  };
  const got = runOn("wasm", f);
  const want = runOn("cpu", f);
  for (let i = 0; i < 2; i++) assert.ok(relErr(got[i]!, want[i]!) < 1e-4, `grad ${i}: rel err ${relErr(got[i]!, want[i]!)}`);
});

test("wasm Sum over leading axes (one pass, no transpose) matches stock cpu, keepDims too", () => {
  const v = pseudoRandom(3 * 5 * 7 * 6, 6);
  for (const [axes, keepDims] of [[[0, 1, 2], false], [[0], true], [[1, 0], false], [[0, 2], false], [[3], false]] as const) {
    const f = () => tf.sum(tf.tensor(v, [3, 5, 7, 6]), [...axes], keepDims);
    const [got] = runOn("wasm", f);
    const [want] = runOn("cpu", f);
    assert.ok(relErr(got!, want!) < 1e-6, `axes ${axes}: rel err ${relErr(got!, want!)}`);
  }
});

test("wasm Identity shares the buffer instead of copying (what tfjs keeps for backprop)", () => {
  tf.setBackend("wasm");
  const a = tf.tensor([1, 2, 3]);
  const before = tf.memory().numDataBuffers;
  const b = tf.clone(a);
  assert.equal(b.dataId, a.dataId);
  assert.equal(tf.memory().numDataBuffers, before);
  a.dispose();
  assert.deepEqual([...b.dataSync()], [1, 2, 3]);
  b.dispose();
});

test("wasm batch-norm-ReLU kernels match the same maths in float64", () => {
  const [n, h, w, c] = [3, 5, 4, 6];
  const size = n * h * w * c;
  const x = pseudoRandom(size, 7).map((v, i) => v * 3 + (i % c)); // non-zero channel means
  const gamma = pseudoRandom(c, 8).map((v) => v + 1);
  const beta = pseudoRandom(c, 9);
  const dr = pseudoRandom(size, 10);
  const eps = 1e-3;
  const [r, mean, variance, dx, dGamma, dBeta] = runOn("wasm", () => {
    const e = tf.engine();
    const [r, m, v] = e.runKernel(BN_RELU_TRAIN, { x: tf.tensor(x, [n, h, w, c]), gamma: tf.tensor(gamma), beta: tf.tensor(beta) },
      { epsilon: eps }) as tf.Tensor[];
    const grads = e.runKernel(BN_RELU_GRAD, { dr: tf.tensor(dr, [n, h, w, c]), r: r!, x: tf.tensor(x, [n, h, w, c]), gamma: tf.tensor(gamma), mean: m!, variance: v! },
      { epsilon: eps }) as tf.Tensor[];
    return [r!, m!, v!, ...grads];
  });
  // float64 reference
  const P = size / c;
  const mu = new Float64Array(c);
  const va = new Float64Array(c);
  for (let i = 0; i < size; i++) mu[i % c]! += x[i]! / P;
  for (let i = 0; i < size; i++) va[i % c]! += (x[i]! - mu[i % c]!) ** 2 / P;
  const rRef = new Float64Array(size);
  const dyRef = new Float64Array(size);
  const dbRef = new Float64Array(c);
  const dgRef = new Float64Array(c);
  for (let i = 0; i < size; i++) {
    const ch = i % c;
    const xh = (x[i]! - mu[ch]!) / Math.sqrt(va[ch]! + eps);
    rRef[i] = Math.max(0, gamma[ch]! * xh + beta[ch]!);
    dyRef[i] = rRef[i]! > 0 ? dr[i]! : 0;
    dbRef[ch]! += dyRef[i]!;
    dgRef[ch]! += dyRef[i]! * xh;
  }
  const dxRef = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const ch = i % c;
    const inv = 1 / Math.sqrt(va[ch]! + eps);
    const xh = (x[i]! - mu[ch]!) * inv;
    dxRef[i] = gamma[ch]! * inv * (dyRef[i]! - dbRef[ch]! / P - xh * dgRef[ch]! / P);
  }
  for (const [name, got, want] of [["r", r, rRef], ["mean", mean, mu], ["variance", variance, va], ["dx", dx, dxRef],
    ["dGamma", dGamma, dgRef], ["dBeta", dBeta, dbRef]] as const) {
    assert.ok(relErr(got!, want) < 1e-5, `${name}: rel err ${relErr(got!, want)}`);
  }
});
