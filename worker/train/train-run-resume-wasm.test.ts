import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRunSpec } from "../../shared/run-spec.ts";
import { loadRawDataset } from "../data/load-dataset.ts";
import { prepareData } from "../data/prepare-data.ts";
import { selectBackend } from "../tf/select-backend.ts";
import { nativeSkipReason } from "../tf/test-backends.ts";
import { memoryCheckpointStore } from "./checkpoint.ts";
import type { EpochMetrics } from "./metrics.ts";
import { trainRun } from "./train-run.ts";

const numbers = (h: EpochMetrics[]) => h.map(({ seconds: _s, imagesPerSec: _i, ...rest }) => rest);

// Native runs with 2 threads: oneDNN's multi-threaded gradients are bit-reproducible for a fixed
// thread count (and CPU), which is what makes its resume exact too (see README, "Resume exactness").
for (const backend of ["wasm", "native"] as const) {
  test(`the ResNet on ${backend}: 4 epochs straight equal 2 epochs + a mid-epoch stop + resume, bit for bit`,
    { skip: backend === "native" ? nativeSkipReason : false }, async () => {
    const { tf } = await selectBackend(backend, { log: () => {}, threads: 2 });
    const parsed = parseRunSpec({
      model: { depth: 11 },
      data: { dataset: "synthetic", trainSize: 100, imageSize: 8, validationSize: 20 },
      optimizer: { lambda: 0.15, l2: 1e-4 },
      batchSize: 32,
      schedule: "[1e-3, 0]lin[1e-3, 2]cos[1e-5, 4]",
    });
    assert.ok(parsed.ok);
    const spec = parsed.spec;
    const data = prepareData(await loadRawDataset(spec.data), spec.data);

    const straightStore = memoryCheckpointStore();
    const straight = await trainRun(tf, spec, { data, checkpoints: straightStore });
    assert.equal(straight.stepsPerEpoch, 3);

    const store = memoryCheckpointStore();
    let calls = 0;
    // Batches 1–3 are epoch 1, 4–6 epoch 2; stop before batch 8 (one batch into epoch 3).
    const first = await trainRun(tf, spec, { data, checkpoints: store, shouldStop: () => (++calls === 8 ? "drain" : false) });
    assert.equal(first.status, "drained");
    const resumed = await trainRun(tf, spec, { data, checkpoints: store });
    assert.deepEqual(numbers(resumed.history), numbers(straight.history));
    const [a, b] = [await straightStore.load(), await store.load()];
    // Names carry a per-instance prefix (resnet_v2_1/, resnet_v2_3/): compare what follows it.
    const named = (c: typeof a) => c!.weights.map((w) => [w.name.replace(/^[^/]+\//, ""), Array.from(w.values)]);
    assert.deepEqual(named(b), named(a));
    assert.deepEqual(b!.optimizer, a!.optimizer);
    // BN moving statistics are part of the checkpoint.
    assert.equal(b!.weights.filter((w) => /moving/.test(w.name)).length > 0, true);
  });
}
