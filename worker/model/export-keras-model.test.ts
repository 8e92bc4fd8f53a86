// The exported model, loaded by tfjs-layers alone (tf.loadLayersModel over a real HTTP socket, no
// project code between the files and the loader), is our network: Atienza's parameter count, Keras's
// layer names, and the same logits as our own forward pass in inference mode, for every model option
// and for both weights choices (two points of a short training).
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { type ModelWeights, modelJson } from "../../shared/model-artifact.ts";
import { backendsReady, pseudoRandom, relErr } from "../tf/test-backends.ts";
import { writeModelFiles } from "./export-files.ts";
import { kerasTopology } from "./export-keras-model.ts";
import { exportRunModel, importRunWeights, type ModelSnapshot } from "./export-run-model.ts";
import { buildResNetV2, type ResNetModel, type ResNetV2Options } from "./resnet-v2.ts";

let dir: string;
let server: Server;
let baseUrl: string;

before(async () => {
  // wasm with our training kernels: the worker's backend (the stock cpu backend's filter gradient is
  // too slow for even a few training steps); the loaded model runs on the same backend.
  await backendsReady();
  await tf.setBackend("wasm");
  dir = await mkdtemp(path.join(tmpdir(), "export-keras-"));
  // A plain static file server: what any web server in front of an export folder would be.
  server = createServer(async (req, res) => {
    try {
      const file = path.join(dir, decodeURIComponent(new URL(req.url!, "http://x").pathname));
      if (!file.startsWith(dir)) throw new Error("outside");
      const body = await readFile(file);
      res.writeHead(200, { "content-type": file.endsWith(".json") ? "application/json" : "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  baseUrl = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

const RUN = { runId: "00000000-0000-4000-8000-000000000001", runName: "export test", l2: 0, dataset: "synthetic" };

function snapshot(model: ResNetModel, epoch: number): ModelSnapshot {
  const size = model.options.imageSize * model.options.imageSize * model.options.channels;
  return {
    epoch,
    valAcc: 0.5,
    valLoss: 1,
    layers: model.layerTable(),
    weights: new Map(model.weights.map((w) => [w.name, (w.variable.dataSync() as Float32Array).slice()])),
    mean: pseudoRandom(size, 99).map((v) => v + 0.5),
  };
}

/** Exports the snapshot into its own folder and returns the URL of its model.json. */
async function publish(s: ModelSnapshot, weights: ModelWeights, folder: string): Promise<string> {
  const { stored, data } = exportRunModel(s, RUN);
  const json = modelJson(stored, data.byteLength, { weights, epoch: s.epoch, valAcc: s.valAcc, valLoss: s.valLoss, testAcc: null, testLoss: null });
  await writeModelFiles(path.join(dir, folder), json, data);
  return `${baseUrl}/${folder}/model.json`;
}

test("kerasTopology() names layers as Keras does for Atienza's resnet_v2 and wires the shortcuts", () => {
  const model = buildResNetV2(tf, { depth: 11, imageSize: 8 });
  const k = kerasTopology(model.layerTable(), { l2: 0 });
  const layers = k.modelTopology.config.layers;
  const names = layers.map((l) => l.name);
  assert.deepEqual(names.slice(0, 8), [
    "input_1", "conv2d", "batch_normalization", "activation", // stem
    "conv2d_1", "batch_normalization_1", "activation_1", "conv2d_2", // stage 0 unit 0: no BN before its first conv
  ]);
  assert.deepEqual(names.slice(-5), ["batch_normalization_9", "activation_9", "average_pooling2d", "flatten", "dense"]);
  const byName = new Map(layers.map((l) => [l.name, l]));
  const inputsOf = (name: string) => byName.get(name)!.inbound_nodes[0]!.map((n) => n[0]);
  // Stage 0's first unit: conv1 and the 1×1 projection shortcut (conv2d_4) both read the stem.
  assert.deepEqual(inputsOf("conv2d_1"), ["activation"]);
  assert.deepEqual(inputsOf("conv2d_4"), ["activation"]);
  assert.deepEqual(inputsOf("add"), ["conv2d_4", "conv2d_3"]);
  // Stage 1: BN-ReLU on the stream, a strided conv1, and a strided shortcut from the stream (pre-BN).
  assert.deepEqual(inputsOf("batch_normalization_3"), ["add"]);
  assert.deepEqual(inputsOf("conv2d_5"), ["activation_3"]);
  assert.deepEqual(inputsOf("conv2d_8"), ["add"]);
  assert.deepEqual(byName.get("conv2d_8")!.config.strides, [2, 2]);
  assert.deepEqual(inputsOf("add_1"), ["conv2d_8", "conv2d_7"]);
  assert.deepEqual(byName.get("average_pooling2d")!.config.pool_size, [2, 2]);
  assert.equal(byName.get("dense")!.config.activation, "softmax");
  assert.equal(byName.get("conv2d")!.config.kernel_regularizer, null);
  assert.deepEqual(k.weights.slice(0, 6).map((w) => [w.name, w.source]), [
    ["conv2d/kernel", "stem/conv/kernel"], ["conv2d/bias", "stem/conv/bias"],
    ["batch_normalization/gamma", "stem/bn/gamma"], ["batch_normalization/beta", "stem/bn/beta"],
    ["batch_normalization/moving_mean", "stem/bn/moving_mean"], ["batch_normalization/moving_variance", "stem/bn/moving_variance"],
  ]);
  assert.equal(k.params, model.paramCounts().total);
  const withL2 = kerasTopology(model.layerTable(), { l2: 1e-4 });
  assert.deepEqual(withL2.modelTopology.config.layers[1]!.config.kernel_regularizer, { class_name: "L1L2", config: { l1: 0, l2: 1e-4 } });
  model.dispose();
});

test("tf.loadLayersModel over HTTP: exactly 1,673,738 params at depth 56 with CIFAR-10's input, weights by Keras name", async () => {
  const model = buildResNetV2(tf, { depth: 56 });
  const url = await publish(snapshot(model, 1), "best", "d56");
  const loaded = await tf.loadLayersModel(url);
  assert.equal(loaded.countParams(), 1673738);
  assert.deepEqual(loaded.inputs[0]!.shape, [null, 32, 32, 3]);
  assert.deepEqual(loaded.outputs[0]!.shape, [null, 10]);
  const trainable = loaded.trainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
  assert.equal(trainable, 1663338);
  // A weight deep inside lands where it belongs.
  const ours = model.weights.find((w) => w.name === "stage2/unit5/conv3/kernel")!.variable.dataSync();
  // 1 stem + 3 stages × (3 + shortcut + 5 × 3) convolutions: the last unit's conv3 is the 58th.
  const keras = loaded.getLayer("conv2d_57").getWeights()[0]!.dataSync();
  assert.deepEqual(keras, ours);
  loaded.dispose();
  model.dispose();
});

const VARIANTS: [string, Partial<ResNetV2Options>][] = [
  ["default (1×1 shortcut, atienza bottleneck, avgpool head)", {}],
  ["3×3 shortcut", { shortcutKernel: 3 }],
  ["extreme bottleneck", { bottleneck: "extreme" }],
  ["flatten head", { head: "flatten" }],
];

for (const [label, options] of VARIANTS) {
  test(`${label}: the loaded model's logits equal our inference forward (rel err < 1e-5), best and final weights`, async () => {
    const model = buildResNetV2(tf, { depth: 11, imageSize: 12, seed: 3, ...options });
    const optimizer = tf.train.adam(0.01);
    const x = tf.tensor4d(pseudoRandom(8 * 12 * 12 * 3, 5), [8, 12, 12, 3]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], "int32"), 10);
    const step = () => {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(y, model.forward(x, { training: true })) as tf.Scalar,
          model.trainableVariables as tf.Variable[],
        );
        optimizer.applyGradients(grads as Parameters<typeof optimizer.applyGradients>[0]);
      });
    };
    const slug = label.replace(/\W+/g, "-");
    const checkpoints: [ModelWeights, ModelSnapshot][] = [];
    step();
    step();
    checkpoints.push(["best", snapshot(model, 2)]);
    step();
    step();
    checkpoints.push(["final", snapshot(model, 4)]);
    const probe = tf.tensor4d(pseudoRandom(6 * 12 * 12 * 3, 11).map((v) => 2 * v), [6, 12, 12, 3]);
    for (const [weights, s] of checkpoints) {
      // Our forward with exactly these weights (the model has moved on since the best snapshot).
      for (const w of model.weights) w.variable.assign(tf.tensor(s.weights.get(w.name)!, w.variable.shape));
      const ours = model.forward(probe, { training: false });
      const loaded = await tf.loadLayersModel(await publish(s, weights, `${slug}-${weights}`));
      // The Dense layer's softmax is Atienza's output; its logits are what the Dense layer computes before it.
      const dense = loaded.getLayer("dense");
      const features = tf.model({ inputs: loaded.inputs, outputs: dense.input as tf.SymbolicTensor }).predict(probe) as tf.Tensor2D;
      const [kernel, bias] = dense.getWeights() as [tf.Tensor2D, tf.Tensor1D];
      const logits = tf.add(tf.matMul(features, kernel), bias);
      const err = relErr(logits.dataSync(), ours.dataSync());
      assert.ok(err < 1e-5, `${weights}: logits rel err ${err}`);
      const probs = loaded.predict(probe) as tf.Tensor;
      const ourProbs = tf.softmax(ours);
      assert.ok(relErr(probs.dataSync(), ourProbs.dataSync()) < 1e-5, `${weights}: probabilities differ`);
      // And the stored bytes read back to our names are the same weights.
      const { data } = exportRunModel(s, RUN);
      const back = importRunWeights(s.layers, data);
      for (const [name, values] of s.weights) assert.deepEqual(back.get(name), values, name);
      // kernel and bias are the layer's own variables: loaded.dispose() frees them.
      tf.dispose([ours, features, logits, probs, ourProbs]);
      loaded.dispose();
    }
    // The two weights choices really are different networks.
    assert.notDeepEqual(checkpoints[0]![1].weights.get("head/dense/kernel"), checkpoints[1]![1].weights.get("head/dense/kernel"));
    tf.dispose([x, y, probe]);
    optimizer.dispose();
    model.dispose();
  });
}

test("a grey 28×28 input (Fashion-MNIST's shape) exports and loads: the topology follows the input shape", async () => {
  const model = buildResNetV2(tf, { depth: 11, imageSize: 28, channels: 1 });
  const s = snapshot(model, 1);
  const loaded = await tf.loadLayersModel(await publish(s, "final", "grey28"));
  assert.deepEqual(loaded.inputs[0]!.shape, [null, 28, 28, 1]);
  assert.deepEqual(loaded.getLayer("average_pooling2d").getConfig().poolSize, [7, 7]);
  assert.equal(loaded.countParams(), model.paramCounts().total);
  const probe = tf.tensor4d(pseudoRandom(2 * 28 * 28, 3), [2, 28, 28, 1]);
  const ours = tf.softmax(model.forward(probe, { training: false }));
  const theirs = loaded.predict(probe) as tf.Tensor;
  assert.ok(relErr(theirs.dataSync(), ours.dataSync()) < 1e-5);
  tf.dispose([probe, ours, theirs]);
  loaded.dispose();
  model.dispose();
});
