// A tiny run end to end through a real worker process with BACKEND=webgpu on SwiftShader's Vulkan
// (WEBGPU_DRIVER=swiftshader): claimed, trained on the webgpu backend, metrics per epoch, succeeded; the
// worker's row (what GET /v1/workers lists) names the adapter. SwiftShader compiles every shader on
// the CPU: on a loaded 2-core machine this file took 55–200 s, hence the long limits.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { parseRunSpec } from "../shared/run-spec.ts";
import { webgpuSkipReason } from "../worker/tf/webgpu-test-backend.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import type { TestDatabase } from "./helpers/test-database.ts";
import { eventually, startWorker } from "./helpers/worker-process.ts";

// The same check the worker will make, in this process, so the test says why it skips.
const skip = await webgpuSkipReason();
if (skip) console.log(`# webgpu worker test skipped: ${skip}`);

const fx = queueFixture("worker-webgpu");
let db: TestDatabase;
let dir: string;
before(async () => {
  await fx.ready;
  ({ db, dir } = fx);
});

const EPOCHS = 2;

test("a worker with BACKEND=webgpu trains a tiny run to success and reports its adapter", { skip, timeout: 285_000 }, async () => {
  const parsed = parseRunSpec({
    name: "webgpu e2e",
    schedule: `[1e-3, 0]lin[1e-3, ${EPOCHS}]`,
    model: { depth: 11 },
    batchSize: 16,
    data: { dataset: "synthetic", trainSize: 32, imageSize: 8, validationSize: 16 },
  });
  assert.ok(parsed.ok);
  const worker = startWorker(
    { DATABASE_URL: db.url, TRAINER: "real", BACKEND: "webgpu", WEBGPU_DRIVER: "swiftshader", CHECKPOINT_DIR: dir },
    "webgpu-a",
  );
  fx.workers.push(worker);
  await worker.waitFor(/ready/, 90_000);
  const [row] = await db.sql`select backend, device from workers where id = 'webgpu-a'`;
  assert.equal(row!.backend, "webgpu");
  assert.match(row!.device, /^webgpu on google swiftshader .*\[software: not a GPU\] via Dawn\/Vulkan with training kernels: .*ResNetBatchNormReluTrain/);

  const [id] = await enqueueRuns(db.sql, [{ name: "webgpu e2e", spec: parsed.spec, epochs: EPOCHS }]);
  await eventually("the run to succeed", async () => {
    const [r] = await db.sql`select state, error from runs where id = ${id!}`;
    if (r!.state === "failed") throw new Error(`the run failed: ${r!.error}\n${worker.output()}`);
    return r!.state === "succeeded";
  }, 250_000);
  const epochs = await db.sql`select epoch, loss, val_loss, val_acc from epoch_metrics where run_id = ${id!} order by epoch`;
  assert.deepEqual(epochs.map((e) => e.epoch), [1, 2]);
  for (const e of epochs) {
    for (const k of ["loss", "val_loss", "val_acc"] as const) assert.ok(Number.isFinite(Number(e[k])), `epoch ${e.epoch} ${k} = ${e[k]}`);
  }
  const [run] = await db.sql`select worker_id from runs where id = ${id!}`;
  assert.equal(run!.worker_id, "webgpu-a");
});
