import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { AdamW, l2Penalty } from "./adamw.ts";

await tf.setBackend("cpu");

/** Keras 3 AdamW in float64, step by step, as the reference. */
function kerasAdamW64(
  w0: number[],
  grads: number[][],
  lrs: number[],
  lambda: number,
  { b1 = 0.9, b2 = 0.999, eps = 1e-7, decays = true } = {},
): number[][] {
  const w = [...w0];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  const out: number[][] = [];
  grads.forEach((g, step) => {
    const lr = lrs[step]!;
    const t = step + 1;
    if (decays) for (let j = 0; j < w.length; j++) w[j] = w[j]! - w[j]! * lr * lambda;
    const alpha = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
    for (let j = 0; j < w.length; j++) {
      m[j] = m[j]! + (g[j]! - m[j]!) * (1 - b1);
      v[j] = v[j]! + (g[j]! ** 2 - v[j]!) * (1 - b2);
      w[j] = w[j]! - (alpha * m[j]!) / (Math.sqrt(v[j]!) + eps);
    }
    out.push([...w]);
  });
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}[${i}]: got ${a}, expected ${e}`);
  }
}

test("AdamW matches hand-computed Keras 3 values for three steps with a varying lr", () => {
  const w0 = [0.5, -1.25, 2.0, 0.0];
  const grads = [[0.1, -0.2, 0.3, 1e-3], [-0.05, 0.4, 0.3, -2e-3], [0.2, 0.1, -0.6, 5e-4]];
  const lrs = [1e-3, 3e-3, 5e-4];
  const lambda = 0.15;
  const expected = kerasAdamW64(w0, grads, lrs, lambda);
  // A spot check of the reference against values worked by hand for step 1 of w[0]:
  // decay 0.5·(1 − 1e-3·0.15) = 0.499925; m = 0.01, v = 1e-5, α = 1e-3·sqrt(0.001)/0.1;
  // w = 0.499925 − α·0.01/(sqrt(1e-5)+1e-7)
  const alpha1 = (1e-3 * Math.sqrt(0.001)) / 0.1;
  assert.ok(Math.abs(expected[0]![0]! - (0.499925 - (alpha1 * 0.01) / (Math.sqrt(1e-5) + 1e-7))) < 1e-15);

  const w = tf.variable(tf.tensor1d(w0));
  const opt = new AdamW(tf, [w], { weightDecay: lambda });
  grads.forEach((g, i) => {
    const gt = tf.tensor1d(g);
    opt.applyGradients([gt], { lr: lrs[i]! });
    gt.dispose();
    assertClose(w.dataSync(), expected[i]!, 2e-6, 1e-7, `step ${i + 1}`);
  });
  assert.equal(opt.iterations, 3);
  opt.dispose();
  w.dispose();
});

test("AdamW puts ε outside the bias correction as Keras does (tiny gradients)", () => {
  // With |g| ~ 1e-7 the two ε placements give visibly different steps; Keras's is the reference.
  const w0 = [1.0, 1.0];
  const grads = [[1e-7, -3e-7], [2e-7, -1e-7], [1e-7, 1e-7]];
  const lrs = [1e-2, 1e-2, 1e-2];
  const keras = kerasAdamW64(w0, grads, lrs, 0);
  const w = tf.variable(tf.tensor1d(w0));
  const opt = new AdamW(tf, [w], { weightDecay: 0 });
  for (const [i, g] of grads.entries()) {
    const gt = tf.tensor1d(g);
    opt.applyGradients([gt], { lr: lrs[i]! });
    gt.dispose();
  }
  // The step sizes (1 − w) are what ε changes; compare them, not w itself.
  const got = Array.from(w.dataSync(), (x) => 1 - x);
  assertClose(got, keras[2]!.map((x) => 1 - x), 1e-3, 1e-9, "Keras ε placement");
  // tfjs-style placement (ε added to sqrt(v̂)) would step ~3× further on the first step here.
  const tfjsFirstStep = (1e-2 * 1e-7) / (1e-7 + 1e-7);
  const kerasFirstStep = 1 - keras[0]![0]!;
  assert.ok(tfjsFirstStep / kerasFirstStep > 1.5, "test data must separate the two ε placements");
  opt.dispose();
  w.dispose();
});

test("AdamW decays before the step with the step's lr, and honours exclusions and a decay override", () => {
  const a = tf.variable(tf.tensor1d([2, -4]), true, "block/kernel");
  const b = tf.variable(tf.tensor1d([3]), true, "block/bias");
  const opt = new AdamW(tf, [a, b], { weightDecay: 0.5, exclude: ["bias"] });
  assert.deepEqual(opt.decays, [true, false]);
  const zero = [tf.zeros([2]), tf.zeros([1])];
  // Zero gradients leave only the decay: a ← a·(1 − lr·λ), b untouched.
  opt.applyGradients(zero, { lr: 0.1 });
  assertClose(a.dataSync(), [2 * 0.95, -4 * 0.95], 1e-7, 0, "decayed by lr·λ");
  assertClose(b.dataSync(), [3], 0, 0, "excluded from decay");
  opt.applyGradients(zero, { lr: 0.1, decay: 0.25 });
  assertClose(a.dataSync(), [2 * 0.95 * 0.75, -4 * 0.95 * 0.75], 1e-7, 0, "decay override (WD schedule)");
  tf.dispose(zero);
  opt.dispose();
  tf.dispose([a, b]);
});

test("AdamW equals tfjs's Adam (epsilon 1e-7) when λ = 0", () => {
  const init = tf.randomNormal([6, 5], 0, 1, "float32", 7);
  const target = tf.randomNormal([6, 5], 0, 1, "float32", 8);
  const ours = tf.variable(init.clone());
  const theirs = tf.variable(init.clone());
  const adamw = new AdamW(tf, [ours], { weightDecay: 0 });
  const adam = tf.train.adam(2e-3, 0.9, 0.999, 1e-7);
  for (let i = 0; i < 20; i++) {
    const loss = (w: tf.Tensor) => tf.sum(tf.square(tf.sub(tf.sin(w), target))) as tf.Scalar;
    const { grads } = tf.variableGrads(() => loss(ours), [ours]);
    adamw.applyGradients([grads[ours.name]!], { lr: 2e-3 });
    tf.dispose(grads);
    const cost = adam.minimize(() => loss(theirs), true, [theirs]);
    cost?.dispose();
  }
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0]!);
  const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(ours, init))).dataSync()[0]!);
  assert.ok(moved > 0.01, `the weights must move (moved ${moved})`);
  // ε placement differs by ε·(1/sqrt(1−β2^t) − 1) in the denominator: ~1e-6 relative here.
  assert.ok(diff < 1e-5, `max |ours − tfjs| = ${diff}`);
  adamw.dispose();
  adam.dispose();
  tf.dispose([init, target, ours, theirs]);
});

test("AdamW state round-trips: export, import into a fresh optimizer, continue identically", async () => {
  const make = () => tf.variable(tf.tensor2d([[1, -2], [3, 0.5]]));
  const g1 = tf.tensor2d([[0.1, 0.2], [-0.3, 0.4]]);
  const g2 = tf.tensor2d([[-0.2, 0.1], [0.3, 0.05]]);
  const w1 = make();
  const o1 = new AdamW(tf, [w1], { weightDecay: 0.1 });
  o1.applyGradients([g1], { lr: 1e-2 });
  const state = await o1.exportState();
  const saved = w1.dataSync().slice();
  o1.applyGradients([g2], { lr: 2e-2 });

  const w2 = tf.variable(tf.tensor2d(saved, [2, 2]));
  const o2 = new AdamW(tf, [w2], { weightDecay: 0.1 });
  o2.importState(state);
  assert.equal(o2.iterations, 1);
  o2.applyGradients([g2], { lr: 2e-2 });
  assert.deepEqual(Array.from(w2.dataSync()), Array.from(w1.dataSync()));
  assert.throws(() => o2.importState({ iterations: 1, m: [], v: [] }), RangeError);
  o1.dispose();
  o2.dispose();
  tf.dispose([w1, w2, g1, g2]);
});

test("AdamW steps leak no tensors", () => {
  const w = tf.variable(tf.ones([3]));
  const opt = new AdamW(tf, [w], { weightDecay: 0.1 });
  const g = tf.ones([3]);
  opt.applyGradients([g], { lr: 1e-3 });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) opt.applyGradients([g], { lr: 1e-3 });
  assert.equal(tf.memory().numTensors, before);
  opt.dispose();
  tf.dispose([w, g]);
});

test("l2Penalty() is l2·Σw² over the kernels, as Keras's l2 regularizer", () => {
  const k1 = tf.variable(tf.tensor1d([1, 2]));
  const k2 = tf.variable(tf.tensor2d([[3]]));
  const p = l2Penalty(tf, [k1, k2], 1e-4);
  assert.ok(Math.abs(p.dataSync()[0]! - 1e-4 * 14) < 1e-10);
  const z = l2Penalty(tf, [k1], 0);
  assert.equal(z.dataSync()[0], 0);
  assert.throws(() => l2Penalty(tf, [k1], -1), RangeError);
  tf.dispose([p, z, k1, k2]);
});
