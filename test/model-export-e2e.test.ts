// Issue 15 end to end with real processes: the API (api/main.ts on Deno) and a real worker
// (TRAINER=real, wasm) train a small ResNet on synthetic data. While the run is unfinished its model is
// a 409; once it has succeeded, tf.loadLayersModel loads it straight from the API's URL with a read
// token (and is refused without one), both weights choices reproduce their epoch's recorded val_acc
// exactly on the validation split and the stored test_acc on the test set, `npm run export` writes the
// same files the API serves, and `npm run predict` classifies PNGs as the loaded model does.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type * as tfjs from "@tensorflow/tfjs";
import { PNG } from "pngjs";
import { createApiToken } from "../shared/api-tokens.ts";
import { type ModelMetadata, modelMetadataSchema, type ModelWeights } from "../shared/model-artifact.ts";
import { loadRawDataset } from "../worker/data/load-dataset.ts";
import { prepareData } from "../worker/data/prepare-data.ts";
import { gatherHWC, type ImageTable } from "../worker/data/preprocess.ts";
import { normalizeImage } from "../worker/model/export-preprocess.ts";
import { selectBackend } from "../worker/tf/select-backend.ts";
import { type ApiProcess, startApi, submitRun } from "./helpers/api-process.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";
import { startWorker, stopWorkers, type WorkerProcess } from "./helpers/worker-process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const run$ = promisify(execFile);
const SPEC = {
  name: "export e2e",
  model: { depth: 11 },
  data: { dataset: "synthetic", trainSize: 160, imageSize: 8, validationSize: 40, shift: 0, flip: false },
  batchSize: 20,
  schedule: "[5e-3, 0]lin[1e-3, 4]",
} as const;

let tf: typeof tfjs;
let db: TestDatabase;
let dir: string;
let api: ApiProcess;
let apiUrl: string;
let readToken: string;
let submitToken: string;
let runId: string;
const workers: WorkerProcess[] = [];

before(async () => {
  tf = (await selectBackend("wasm", { log: () => {} })).tf;
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "model-e2e-"));
  readToken = (await createApiToken(db.sql, { name: "e2e read", scopes: ["read"] })).token;
  submitToken = (await createApiToken(db.sql, { name: "e2e submit", scopes: ["submit"] })).token;
  api = await startApi(db.url);
  apiUrl = api.url;
});

after(async () => {
  await stopWorkers(workers);
  await api?.stop();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

const auth = (token = readToken) => ({ Authorization: `Bearer ${token}` });
const modelUrl = (id: string, weights: ModelWeights) => `${apiUrl}/v1/runs/${id}/model/model.json?weights=${weights}`;

async function getJson(pathname: string, token = readToken) {
  const res = await fetch(`${apiUrl}${pathname}`, { headers: auth(token) });
  return { status: res.status, body: await res.json() };
}

const submit = () => submitRun(apiUrl, submitToken, SPEC);

/** Accuracy of the loaded model on a table's images, prepared from the model's own metadata. */
function accuracy(model: tfjs.LayersModel, meta: ModelMetadata, table: ImageTable): number {
  const per = meta.preprocessing.mean.length;
  const x = new Float32Array(table.count * per);
  for (let k = 0; k < table.count; k++) {
    x.set(normalizeImage(Float32Array.from(table.pixels.subarray(k * per, (k + 1) * per)), meta.preprocessing), k * per);
  }
  const [h, w, c] = meta.preprocessing.shape;
  const predicted = tf.tidy(() => tf.argMax(model.predict(tf.tensor4d(x, [table.count, h, w, c])) as tfjs.Tensor, 1).dataSync());
  let correct = 0;
  for (let k = 0; k < table.count; k++) if (predicted[k] === table.labels[k]) correct++;
  return correct / table.count;
}

test("an unfinished run's model is a 409 naming its state; the same run, once succeeded, loads from the URL", { timeout: 240_000 }, async () => {
  runId = await submit();
  // Queued (no worker yet): a clear 409 for model.json and for a shard.
  const queued = await getJson(`/v1/runs/${runId}/model/model.json`);
  assert.equal(queued.status, 409);
  assert.equal(queued.body.error.code, "conflict");
  assert.match(queued.body.error.message, /is queued: its model is served once the run has succeeded/);
  assert.equal((await getJson(`/v1/runs/${runId}/model/best-shard1of1.bin`)).status, 409);

  const w = startWorker({ DATABASE_URL: db.url, CHECKPOINT_DIR: dir, DATA_DIR: dir, TRAINER: "real", BACKEND: "wasm" }, "export-e2e");
  workers.push(w);
  await w.waitFor(/ready/, 60_000);
  const deadline = Date.now() + 200_000;
  let run;
  do {
    await new Promise((r) => setTimeout(r, 500));
    run = (await getJson(`/v1/runs/${runId}`)).body;
    assert.ok(!["failed", "cancelled"].includes(run.state), `run ended ${run.state}: ${JSON.stringify(run.error)}\n${w.output()}`);
    assert.ok(Date.now() < deadline, `run still ${run.state}\n${w.output()}`);
  } while (run.state !== "succeeded");
  await stopWorkers([w]);

  // Refused without a token, and with a worker token (no read scope) — both as a plain request and
  // through tf.loadLayersModel.
  assert.equal((await fetch(modelUrl(runId, "best"))).status, 401);
  await assert.rejects(tf.loadLayersModel(modelUrl(runId, "best")), /401/);
  const wrong = await fetch(`${apiUrl}/v1/runs/${runId}/model/best-shard1of1.bin`);
  assert.equal(wrong.status, 401);
});

test("both weights choices reproduce their epoch's recorded val_acc exactly, and the stored test_acc", { timeout: 120_000 }, async () => {
  assert.ok(runId, "needs the succeeded run of the previous test");
  const run = (await getJson(`/v1/runs/${runId}`)).body;
  const metrics = (await getJson(`/v1/runs/${runId}/metrics`)).body.epochs as { epoch: number; valAcc: number }[];
  const raw = await loadRawDataset(run.spec.data);
  const prepared = prepareData(raw, run.spec.data);
  const testTable = gatherHWC(raw.test);
  assert.equal(run.summary.epochsDone, 4);
  for (const weights of ["best", "final"] as const) {
    const model = await tf.loadLayersModel(modelUrl(runId, weights), { requestInit: { headers: auth() } });
    const meta = modelMetadataSchema.parse(model.getUserDefinedMetadata());
    assert.equal(meta.weights, weights);
    assert.equal(meta.epoch, weights === "best" ? run.summary.bestEpoch : 4);
    assert.deepEqual(Float32Array.from(meta.preprocessing.mean), prepared.mean, "the exported mean is the one the run trained with");
    assert.deepEqual(meta.preprocessing.shape, [8, 8, 3]);
    const recorded = metrics.find((m) => m.epoch === meta.epoch)!.valAcc;
    assert.equal(meta.valAcc, recorded);
    assert.equal(accuracy(model, meta, prepared.validation), recorded, `${weights}: val_acc of epoch ${meta.epoch}`);
    const testAcc = weights === "best" ? run.summary.bestTestAcc : run.summary.finalTestAcc;
    assert.equal(typeof testAcc, "number");
    assert.equal(meta.testAcc, testAcc);
    assert.equal(accuracy(model, meta, testTable), testAcc, `${weights}: test_acc`);
    model.dispose();
  }
  const csv = await (await fetch(`${apiUrl}/v1/report?format=csv`, { headers: auth() })).text();
  assert.match(csv, new RegExp(`${runId},succeeded,.*,${run.summary.bestTestAcc},${run.summary.bestTestLoss},${run.summary.finalTestAcc},`));
});

test("npm run export writes the files the API serves; npm run predict classifies PNGs as the loaded model does", { timeout: 120_000 }, async () => {
  assert.ok(runId, "needs the succeeded run of the first test");
  const out = path.join(dir, "exported");
  const env = { ...process.env, API_URL: apiUrl, API_TOKEN: readToken };
  const exported = await run$(process.execPath, ["--import", "tsx", "worker/cli/export.ts", "--run", runId, "--out", out, "--weights", "final"], { cwd: ROOT, env });
  assert.match(exported.stdout, /final weights of epoch 4/);
  const served = await (await fetch(modelUrl(runId, "final"), { headers: auth() })).text();
  assert.equal(await readFile(path.join(out, "model.json"), "utf8"), served);
  const shard = new Uint8Array(await (await fetch(`${apiUrl}/v1/runs/${runId}/model/final-shard1of1.bin`, { headers: auth() })).arrayBuffer());
  assert.deepEqual(new Uint8Array(await readFile(path.join(out, "final-shard1of1.bin"))), shard);

  // A run that has not succeeded: the CLI passes the API's 409 on and fails.
  const queuedId = await submit();
  const refused = await run$(process.execPath, ["--import", "tsx", "worker/cli/export.ts", "--run", queuedId, "--out", path.join(dir, "nope")], { cwd: ROOT, env })
    .then(() => null, (e: { code: number; stderr: string }) => e);
  assert.equal(refused?.code, 1);
  assert.match(refused!.stderr, /409 .*is queued/);

  // Three validation images as PNG files, predicted by the CLI (from the API and from the folder).
  const run = (await getJson(`/v1/runs/${runId}`)).body;
  const prepared = prepareData(await loadRawDataset(run.spec.data), run.spec.data);
  const images = path.join(dir, "images");
  await mkdir(images);
  const per = 8 * 8 * 3;
  for (let k = 0; k < 3; k++) {
    const png = new PNG({ width: 8, height: 8 });
    for (let p = 0; p < 64; p++) {
      png.data.set(prepared.validation.pixels.subarray(k * per + 3 * p, k * per + 3 * p + 3), 4 * p);
      png.data[4 * p + 3] = 255;
    }
    await writeFile(path.join(images, `img${k}.png`), PNG.sync.write(png));
  }
  const model = await tf.loadLayersModel(modelUrl(runId, "final"), { requestInit: { headers: auth() } });
  const meta = modelMetadataSchema.parse(model.getUserDefinedMetadata());
  const expected = [0, 1, 2].map((k) => {
    const x = normalizeImage(Float32Array.from(prepared.validation.pixels.subarray(k * per, (k + 1) * per)), meta.preprocessing);
    const probs = tf.tidy(() => (model.predict(tf.tensor4d(x, [1, 8, 8, 3])) as tfjs.Tensor).dataSync());
    const top = probs.indexOf(Math.max(...probs));
    return { name: meta.classNames[top]!, p: probs[top]!.toFixed(4) };
  });
  model.dispose();
  for (const source of [["--run", runId, "--weights", "final"], ["--model", path.join(out, "model.json")]]) {
    const { stdout } = await run$(process.execPath, ["--import", "tsx", "worker/cli/predict.ts", ...source, "--top", "2", images], { cwd: ROOT, env: { ...env, BACKEND: "wasm" } });
    const blocks = stdout.split(/\n(?=\S)/).slice(1);
    assert.equal(blocks.length, 3, stdout);
    blocks.forEach((block, k) => {
      const lines = block.trim().split("\n");
      assert.equal(lines[0], path.join(images, `img${k}.png`));
      assert.equal(lines.length, 3, block);
      assert.equal(lines[1]!.trim(), `${expected[k]!.name.padEnd(12)} ${expected[k]!.p}`, `${source[0]} img${k}`);
    });
  }
});
