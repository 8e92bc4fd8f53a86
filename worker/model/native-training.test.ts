import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { backendsReady, nativeAddon, nativeSkipReason, pseudoRandom, useBackend } from "../tf/test-backends.ts";
import { AdamW } from "../train/adamw.ts";
import { buildResNetV2 } from "./resnet-v2.ts";
import { assertSameStep, stepOn, trainStep } from "./test-training.ts";

const skip = nativeSkipReason;
before(backendsReady);

/**
 * A small model training on native with `threads` oneDNN threads; `after` runs after each step.
 * Long loops use 1 thread: on a loaded test machine every OpenMP barrier waits for a descheduled
 * thread, and what they check (tensors, memory) does not depend on the thread count.
 */
function trainNative(steps: number, after: (step: number) => void, options = { depth: 11, imageSize: 8, batch: 2, threads: 1 }) {
  useBackend("native");
  nativeAddon().setThreads(options.threads);
  const model = buildResNetV2(tf, { depth: options.depth, imageSize: options.imageSize, seed: 5 });
  const optimizer = new AdamW(tf, model.trainableVariables, { weightDecay: 0.15 });
  const s = options.imageSize;
  const x = tf.tensor(pseudoRandom(options.batch * s * s * 3, 21), [options.batch, s, s, 3]) as tf.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: options.batch }, (_, i) => i % 10), "int32"), 10) as tf.Tensor2D;
  try {
    for (let i = 0; i < steps; i++) {
      trainStep(model, optimizer, x, labels);
      after(i);
    }
    return model.weights.map((w) => Float32Array.from(w.variable.dataSync()));
  } finally {
    nativeAddon().setThreads(2);
    tf.dispose([x, labels]);
    optimizer.dispose();
    model.dispose();
  }
}

test("a full ResNet56v2 training step (forward, backward, AdamW) gives the same loss and weights on native and wasm", { skip }, () => {
  // Small images keep it quick; every layer, kernel shape and stride of the 32×32 network runs.
  const options = { depth: 56, imageSize: 8, seed: 3 };
  assertSameStep(stepOn("native", options, 2), stepOn("wasm", options, 2), { loss: 1e-3, weights: 1e-3 });
});

test("training on native leaks no tensors: tf.memory().numTensors is flat across 20 steps", { skip }, () => {
  const counts: number[] = [];
  trainNative(21, (i) => {
    if (i > 0) counts.push(tf.memory().numTensors);
  });
  assert.ok(counts.every((c) => c === counts[0]), `numTensors per step: ${counts.join(", ")}`);
});

test("training on native does not grow the process's memory over 200 steps (RSS, primitive caches, scratch)", { skip }, () => {
  // RSS minus the V8 heap: what native code (oneDNN, our scratch, the wasm heap) holds. The V8 heap
  // itself breathes with garbage collection by tens of MiB and is not what this test is about.
  const native: number[] = [];
  trainNative(220, (i) => {
    if (i === 19 || i === 219) native.push(process.memoryUsage().rss - process.memoryUsage().heapTotal);
  });
  const growthMiB = (native[1]! - native[0]!) / 2 ** 20;
  // A leak of one small activation per call (≈ 1 KiB × ~150 kernel calls per step) would add > 25 MiB.
  assert.ok(growthMiB < 8, `RSS outside the V8 heap grew by ${growthMiB.toFixed(1)} MiB from step 20 to step 220`);
});

test("native training is bit-reproducible run to run with the same thread count (what exact resume relies on)", { skip }, () => {
  const options = { depth: 20, imageSize: 16, batch: 16, threads: 2 };
  const a = trainNative(3, () => {}, options);
  const b = trainNative(3, () => {}, options);
  a.forEach((w, i) => assert.deepEqual(w, b[i], `weight ${i} differs between two identical runs`));
});
