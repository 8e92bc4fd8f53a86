import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseRunSpec } from "../../shared/run-spec.ts";
import { DEBIAN_FASHION_MNIST_DIR, loadRawDataset } from "../data/load-dataset.ts";
import { FASHION_MNIST_FILES } from "../data/read-fashion-mnist.ts";
import { selectBackend } from "../tf/select-backend.ts";
import type { EpochMetrics } from "./metrics.ts";
import { trainRun } from "./train-run.ts";

const HAVE_DATA = Object.values(FASHION_MNIST_FILES).every((f) => existsSync(join(DEBIAN_FASHION_MNIST_DIR, f)));
// Measured: val_acc 0.23, 0.345, 0.635 after epochs 1–3 (chance 0.10); asked: ≥ 0.5 at the end, a
// margin of 0.135. Real images, so nothing here can be learnt by heart in two epochs as the synthetic
// set can. Epochs 1–2 validate low because batch norm's moving statistics (momentum 0.99) trail weights
// that move at LR 1e-3; the cosine to 1e-5 in epoch 3 lets them settle.
const MIN_VAL_ACC = 0.5;

test("a ResNet v2 of depth 11 learns real Fashion-MNIST images: 2000 of them, 3 epochs, val_acc ≥ 0.5 on 200 held out (wasm)", {
  skip: HAVE_DATA ? false : `needs Debian's package dataset-fashion-mnist in ${DEBIAN_FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`,
}, async (t) => {
  // 6000 training images at batch 16 (375 steps): 55 s of one core, measured (the whole file).
  const { tf } = await selectBackend("wasm", { log: () => {} });
  const parsed = parseRunSpec({
    model: { depth: 11 },
    data: { dataset: "fashion-mnist", trainSize: 2200, validationSize: 200 },
    batchSize: 16,
    schedule: "[1e-3, 0]lin[1e-3, 1]cos[1e-5, 3]",
    threshold: MIN_VAL_ACC,
  });
  assert.ok(parsed.ok);
  const spec = parsed.spec;
  const epochs: EpochMetrics[] = [];
  const live: number[] = [];
  const before = tf.memory().numTensors;
  const data = await loadRawDataset(spec.data, {
    cifar10Dir: "/nonexistent",
    fashionMnistDir: "/nonexistent",
    fashionMnistSystemDir: DEBIAN_FASHION_MNIST_DIR,
  });
  const result = await trainRun(tf, spec, {
    data,
    onEpochEnd: (m) => {
      epochs.push(m);
      live.push(tf.memory().numTensors);
    },
  });
  const table = epochs.map((m) =>
    `epoch ${m.epoch}: loss ${m.loss.toFixed(4)} acc ${m.acc.toFixed(3)} val_loss ${m.valLoss.toFixed(4)} val_acc ${m.valAcc.toFixed(3)} ${m.imagesPerSec.toFixed(1)} img/s`
  ).join("\n");
  for (const line of table.split("\n")) t.diagnostic(line);
  assert.equal(result.status, "completed");
  assert.ok(epochs.at(-1)!.valAcc >= MIN_VAL_ACC, `val_acc ${epochs.at(-1)!.valAcc} < ${MIN_VAL_ACC}:\n${table}`);
  assert.ok(epochs[0]!.loss > epochs.at(-1)!.loss, `the loss must fall:\n${table}`);
  assert.ok(live.every((n) => n === live[0]), `live tensors must stay flat from epoch to epoch: ${live}`);
  assert.equal(tf.memory().numTensors, before, "the run leaves no tensor behind");
});
