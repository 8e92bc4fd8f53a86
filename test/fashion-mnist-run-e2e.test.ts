// Issue 14's "what it must show", end to end: a run submitted over the API with
// `"data": {"dataset": "fashion-mnist", "trainSize": 5000, "validationSize": 1000}`, depth 11, three
// epochs, trained by a real worker process with the real trainer on the backend a user gets by default
// (BACKEND=auto: native oneDNN when the addon is built, as in CI, else wasm; one thread, since the test
// runner runs another file beside it) on Debian's real Fashion-MNIST images, succeeds with an honest
// accuracy: measured val_acc 0.695 after epoch 3 (chance is 0.10); the test asks for ≥ 0.60. About 110 s
// of one core on wasm on a quiet machine (4000 images × 3 epochs at ~120 img/s, plus validation). The early epochs' val_acc is low (0.27, 0.38) because batch norm's moving
// statistics (the seed's momentum 0.99) lag behind weights that move at LR 1e-3 over only 125 steps
// per epoch; the schedule's cosine to 1e-5 in epoch 3 lets them settle, as the seed's schedules do.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { createApiToken } from "../shared/api-tokens.ts";
import { DEBIAN_FASHION_MNIST_DIR } from "../worker/data/load-dataset.ts";
import { FASHION_MNIST_FILES } from "../worker/data/read-fashion-mnist.ts";
import { type ApiProcess, readRunStream, startApi, submitRun, waitForRunEnd } from "./helpers/api-process.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";
import { startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";

const HAVE_DATA = Object.values(FASHION_MNIST_FILES).every((f) => existsSync(path.join(DEBIAN_FASHION_MNIST_DIR, f)));
const SKIP = HAVE_DATA
  ? false
  : `needs Debian's package dataset-fashion-mnist in ${DEBIAN_FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist; .ci/run does)`;
const MIN_VAL_ACC = 0.6;
/** Just under the runner's per-file limit (TEST_FILE_TIMEOUT_S, 300 s by default). */
const LIMIT_MS = (Number(process.env.TEST_FILE_TIMEOUT_S ?? 300) - 15) * 1000;

let db: TestDatabase;
let api: ApiProcess;
let dir: string;
let submitToken: string;
const workers: WorkerProcess[] = [];

before(async () => {
  if (SKIP) return;
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "fashion-e2e-"));
  submitToken = (await createApiToken(db.sql, { name: "e2e", scopes: ["submit", "read"] })).token;
  const workerToken = (await createApiToken(db.sql, { name: "e2e worker", scopes: ["worker"] })).token;
  api = await startApi(db.url);
  workers.push(startWorker({
    DATABASE_URL: db.url,
    API_URL: api.url,
    WORKER_TOKEN: workerToken,
    TRAINER: "real",
    BACKEND: "auto",
    CPU_THREADS: "1",
    DATA_DIR: dir, // empty: the data comes from Debian's package, nothing is fetched
    LEASE_S: "30",
    HEARTBEAT_S: "5",
  }, "fashion-worker"));
});

after(async () => {
  await stopWorkers(workers);
  await api?.stop();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test("a Fashion-MNIST run (5000 images, 1000 held out, depth 11, 3 epochs) submitted over the API succeeds with val_acc ≥ 0.60", { skip: SKIP, timeout: LIMIT_MS }, async () => {
  const started = performance.now();
  const runId = await submitRun(api.url, submitToken, {
    name: "fashion-mnist quick run",
    model: { depth: 11 },
    data: { dataset: "fashion-mnist", trainSize: 5000, validationSize: 1000 },
    batchSize: 32,
    schedule: "[1e-3, 0]lin[1e-3, 1]cos[1e-5, 3]",
    threshold: 0.6,
  });
  const run = await waitForRunEnd(api.url, submitToken, runId, LIMIT_MS - 10_000);
  assert.equal(run.state, "succeeded", JSON.stringify(run.error));
  const metrics = await (await fetch(`${api.url}/v1/runs/${runId}/metrics`, { headers: { authorization: `Bearer ${submitToken}` } }))
    .json() as { epochs: { epoch: number; valAcc: number; acc: number; loss: number }[] };
  assert.deepEqual(metrics.epochs.map((e) => e.epoch), [1, 2, 3]);
  const last = metrics.epochs.at(-1)!;
  console.log(`# val_acc per epoch: ${metrics.epochs.map((e) => e.valAcc.toFixed(3)).join(", ")}; ` +
    `train acc ${last.acc.toFixed(3)}; ${((performance.now() - started) / 1000).toFixed(0)} s`);
  assert.ok(last.valAcc >= MIN_VAL_ACC, `val_acc ${last.valAcc} after 3 epochs`);
  assert.ok(last.loss < metrics.epochs[0]!.loss, "the training loss fell");
  // The stream says where the data came from, then carries every epoch.
  const messages = await readRunStream(api.url, submitToken, runId);
  const data = messages.filter((m) => m.type === "data");
  assert.deepEqual(data.map((m) => [m.phase, m.source, m.dir]), [["ready", "system", DEBIAN_FASHION_MNIST_DIR]]);
  assert.deepEqual(messages.filter((m) => m.type === "epoch").map((m) => m.epoch), [1, 2, 3]);
});
