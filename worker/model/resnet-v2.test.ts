import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendsReady } from "../tf/test-backends.ts";
import { formatLayerTable } from "./format-layer-table.ts";
import { heNormal } from "./he-normal.ts";
import { buildResNetV2 } from "./resnet-v2.ts";

before(async () => {
  await backendsReady();
  tf.setBackend("wasm");
});

test("buildResNetV2() has Atienza's 1,673,738 params (1,663,338 trainable) at depth 56 and 574,090 at depth 20", () => {
  const m56 = buildResNetV2(tf, { depth: 56 });
  assert.deepEqual(m56.paramCounts(), { total: 1673738, trainable: 1663338, nonTrainable: 10400 });
  assert.equal(m56.trainableVariables.length + m56.nonTrainableVariables.length, m56.weights.length);
  assert.equal(m56.regularizedKernels.length, 1 + 6 * 3 * 3 + 3); // stem, 3 convs per unit, 3 shortcuts
  m56.dispose();
  const m20 = buildResNetV2(tf, { depth: 20 });
  assert.equal(m20.paramCounts().total, 574090);
  m20.dispose();
});

test("depth-56 layer table gives each layer's output shape, and forward produces exactly those shapes", () => {
  const model = buildResNetV2(tf, { depth: 56 });
  const rows = model.layerTable();
  const traced: [string, number[]][] = [];
  const x = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D;
  const logits = model.forward(x, { training: false, trace: (name, t) => traced.push([name, t.shape.slice(1)]) });
  assert.deepEqual(traced, rows.map((r) => [r.name, [...r.outputShape]]));
  assert.deepEqual(logits.shape, [2, 10]);
  // Stage outputs as in Atienza's model: 32×32×64, 16×16×128, 8×8×256, then pooled 256 → 10.
  const shapeOf = (name: string) => rows.find((r) => r.name === name)!.outputShape;
  assert.deepEqual(shapeOf("stem/conv"), [32, 32, 16]);
  assert.deepEqual(shapeOf("stage0/unit5/add"), [32, 32, 64]);
  assert.deepEqual(shapeOf("stage1/unit0/conv1"), [16, 16, 64]);
  assert.deepEqual(shapeOf("stage1/unit5/add"), [16, 16, 128]);
  assert.deepEqual(shapeOf("stage2/unit0/shortcut"), [8, 8, 256]);
  assert.deepEqual(shapeOf("stage2/unit5/add"), [8, 8, 256]);
  assert.deepEqual(shapeOf("head/pool"), [256]);
  assert.equal(rows.filter((r) => r.type === "Conv2D").length, 1 + 18 * 3 + 3);
  assert.equal(rows.filter((r) => r.type === "BatchNormalization").length, 1 + 18 * 3 - 1 + 1);
  assert.match(formatLayerTable(rows, model.paramCounts()), /\nparams: 1673738\ntrainable: 1663338\n/);
  tf.dispose([x, logits]);
  model.dispose();
});

test("options: extreme bottleneck halves the stage's maps, 3×3 shortcuts and flatten head change the counts", () => {
  const base = buildResNetV2(tf, { depth: 20 });
  const extreme = buildResNetV2(tf, { depth: 20, bottleneck: "extreme" });
  const widths = (m: typeof base, name: string) => m.layerTable().find((r) => r.name === name)!.outputShape;
  assert.deepEqual(widths(base, "stage1/unit0/conv1"), [16, 16, 64]);
  assert.deepEqual(widths(extreme, "stage1/unit0/conv1"), [16, 16, 32]);
  assert.deepEqual(widths(extreme, "stage1/unit1/conv2"), [16, 16, 32]);
  assert.deepEqual(widths(extreme, "stage1/unit1/add"), [16, 16, 128]);
  assert.deepEqual(widths(extreme, "stage2/unit0/conv2"), [8, 8, 64]);
  assert.deepEqual(widths(extreme, "stage2/unit1/add"), [8, 8, 256]);
  const k3 = buildResNetV2(tf, { depth: 20, shortcutKernel: 3 });
  // The three projection shortcuts (16→64, 64→128, 128→256) get 8 more taps each.
  assert.equal(k3.paramCounts().total - base.paramCounts().total, 8 * (16 * 64 + 64 * 128 + 128 * 256));
  const flat = buildResNetV2(tf, { depth: 20, head: "flatten" });
  assert.equal(flat.paramCounts().total - base.paramCounts().total, (8 * 8 * 256 - 256) * 10);
  for (const m of [base, extreme, k3, flat]) m.dispose();
});

test("small and odd image sizes work: the average pool spans the whole final map", () => {
  for (const [imageSize, head] of [[8, "avgpool"], [13, "avgpool"], [9, "flatten"]] as const) {
    const model = buildResNetV2(tf, { depth: 11, imageSize, head, bottleneck: "extreme", shortcutKernel: 3 });
    const x = tf.ones([1, imageSize, imageSize, 3]) as tf.Tensor4D;
    const y = model.forward(x, { training: true });
    assert.deepEqual(y.shape, [1, 10]);
    assert.ok([...y.dataSync()].every(Number.isFinite));
    const final = Math.ceil(Math.ceil(imageSize / 2) / 2);
    assert.deepEqual(model.layerTable().find((r) => r.name === "head/bn")!.outputShape, [final, final, 256]);
    tf.dispose([x, y]);
    model.dispose();
  }
});

test("forward rejects an input of the wrong size, and bad options are RangeErrors naming the rule", () => {
  const model = buildResNetV2(tf, { depth: 11, imageSize: 16 });
  const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
  assert.throws(() => model.forward(x, { training: false }), /expects input \[N, 16, 16, 3\], got \[1, 32, 32, 3\]/);
  x.dispose();
  model.dispose();
  assert.throws(() => buildResNetV2(tf, { depth: 57 }), (e) => e instanceof RangeError && /9n\+2.*got 57/.test(e.message));
  assert.throws(() => buildResNetV2(tf, { depth: 20, imageSize: 4 }), RangeError);
  assert.throws(() => buildResNetV2(tf, { depth: 20, shortcutKernel: 2 as 1 }), RangeError);
});

test("initial weights are Keras's: truncated he_normal kernels, zero biases, γ=1, β=0, moving 0/1; same seed, same weights", () => {
  const a = buildResNetV2(tf, { depth: 11, seed: 5 });
  const b = buildResNetV2(tf, { depth: 11, seed: 5 });
  const c = buildResNetV2(tf, { depth: 11, seed: 6 });
  const values = (m: typeof a, name: string) => m.weights.find((w) => w.name === name)!.variable.dataSync();
  const k = "stage1/unit0/conv2/kernel";
  assert.deepEqual(values(a, k), values(b, k));
  assert.notDeepEqual(values(a, k), values(c, k));
  assert.ok(values(a, "stage1/unit0/conv2/bias").every((v) => v === 0));
  assert.ok(values(a, "stage1/unit0/bn2/gamma").every((v) => v === 1));
  assert.ok(values(a, "stage1/unit0/bn2/moving_variance").every((v) => v === 1));
  assert.ok(values(a, "stage1/unit0/bn2/moving_mean").every((v) => v === 0));
  for (const m of [a, b, c]) m.dispose();
  // he_normal: stddev of the truncated draw is sqrt(2/fanIn); nothing beyond 2 raw σ.
  const fanIn = 3 * 3 * 64;
  const v = heNormal(200_000, fanIn, 1);
  const raw = Math.sqrt(2 / fanIn) / 0.87962566103423978;
  const sd = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
  assert.ok(Math.abs(sd / Math.sqrt(2 / fanIn) - 1) < 0.01, `stddev ratio ${sd / Math.sqrt(2 / fanIn)}`);
  assert.ok(v.every((x) => Math.abs(x) <= 2 * raw * (1 + 1e-6)));
});

test("building and disposing a model leaves no tensor behind", () => {
  const before = tf.memory().numTensors;
  const model = buildResNetV2(tf, { depth: 11, imageSize: 8 });
  const logits = tf.tidy(() => model.forward(tf.zeros([2, 8, 8, 3]), { training: false }));
  logits.dispose();
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});
