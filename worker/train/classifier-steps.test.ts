import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { trainStep as kerasStep } from "../model/test-training.ts";
import { buildResNetV2 } from "../model/resnet-v2.ts";
import { pseudoRandom, relErr, useBackend } from "../tf/test-backends.ts";
import { AdamW } from "./adamw.ts";
import { ClassifierSteps } from "./classifier-steps.ts";

const OPTIONS = { depth: 11, imageSize: 8, seed: 3 } as const;
const BATCH = 4;

/** Two identical models: one stepped by ClassifierSteps, one by the tests' Keras-style step. */
function twins() {
  const make = () => {
    const model = buildResNetV2(tf, OPTIONS);
    return { model, optimizer: new AdamW(tf, model.trainableVariables, { weightDecay: 0.15 }) };
  };
  return [make(), make()] as const;
}

test("ClassifierSteps.train() is the Keras step (softmax cross-entropy, gradients, AdamW): same loss and weights; test() matches in inference mode", async () => {
  useBackend("cpu");
  const [ours, keras] = twins();
  const steps = new ClassifierSteps(tf, ours.model, ours.optimizer, { l2: 0, kernels: [] });
  const x = tf.tensor4d(pseudoRandom(BATCH * 8 * 8 * 3, 5), [BATCH, 8, 8, 3]);
  const labels = tf.tensor1d([3, 1, 4, 1], "int32");
  const oneHot = tf.oneHot(labels, 10) as tf.Tensor2D;
  const before = tf.memory().numTensors;
  for (let i = 0; i < 2; i++) {
    const { loss, correct } = steps.train(x, labels, { lr: 1e-3, decay: 1e-3 * 0.15 });
    const want = kerasStep(keras.model, keras.optimizer, x, oneHot, 1e-3);
    const got = (await loss.data())[0]!;
    assert.ok(relErr([got], [want]) < 1e-6, `step ${i}: loss ${got} vs ${want}`);
    const k = (await correct.data())[0]!;
    assert.ok(Number.isInteger(k) && k >= 0 && k <= BATCH);
    tf.dispose([loss, correct]);
  }
  assert.equal(tf.memory().numTensors, before, "a step leaves only its two results, which the caller disposes");
  for (const [i, w] of ours.model.trainableVariables.entries()) {
    // A conv bias feeds a batch norm: its true gradient is 0 and both steps get float noise, which
    // Adam's 1/(√v + ε) amplifies into weight noise (as in model/test-training.ts's comparison).
    if (/(conv\d?|shortcut)\/bias$/.test(w.name)) continue;
    const err = relErr(w.dataSync(), keras.model.trainableVariables[i]!.dataSync());
    assert.ok(err < 1e-5, `${w.name}: rel err ${err}`);
  }
  const [ceSum, correct] = steps.test(x, labels).dataSync();
  const want = tf.tidy(() => tf.losses.softmaxCrossEntropy(oneHot, keras.model.forward(x, { training: false })).dataSync()[0]!);
  assert.ok(relErr([ceSum! / BATCH], [want]) < 1e-5, `inference loss ${ceSum! / BATCH} vs ${want}`);
  assert.ok(correct! >= 0 && correct! <= BATCH);
  assert.equal(await steps.penalty(), 0);
  const withL2 = new ClassifierSteps(tf, ours.model, ours.optimizer, { l2: 1e-4, kernels: ours.model.trainableVariables.filter((v) => v.rank === 4) });
  assert.ok(await withL2.penalty() > 0, "the l2 penalty of the conv kernels");
  tf.dispose([x, labels, oneHot]);
  for (const t of [ours, keras]) {
    t.optimizer.dispose();
    t.model.dispose();
  }
});
