import assert from "node:assert/strict";
import { dbTest, finishRun, markRunning, SMALL_SPEC, storeRunModel, succeedWithModels, useTestApi } from "../testing/test-api.ts";

const api = useTestApi();

async function createRun(): Promise<string> {
  const res = await api().request("POST", "/v1/runs", { json: SMALL_SPEC });
  assert.equal(res.status, 201);
  return (await res.json()).id;
}

/** A succeeded run with best weights from epoch 3 and final weights from epoch 5. */
async function succeededRunWithModels(): Promise<string> {
  const id = await createRun();
  await succeedWithModels(api().sql, id, 3, 5);
  return id;
}

dbTest("GET /v1/runs/:id/model/model.json of an unfinished, failed or unknown run: 409 naming the state, or 404", async () => {
  const id = await createRun();
  const queued = await api().request("GET", `/v1/runs/${id}/model/model.json`, { token: api().tokens.read });
  assert.equal(queued.status, 409);
  assert.match((await queued.json()).error.message, /is queued: its model is served once the run has succeeded \(its last epoch is still to come\)/);
  await markRunning(api().sql, id);
  await storeRunModel(api().sql, id, "best", 1); // a running run's best so far: not served (it may change under the reader)
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/model.json`)).status, 409);
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/best-shard1of2.bin`)).status, 409);
  await finishRun(api().sql, id, "failed");
  const failed = await api().request("GET", `/v1/runs/${id}/model/model.json`);
  assert.equal(failed.status, 409);
  assert.match((await failed.json()).error.message, /is failed: .*never completed its schedule/);
  assert.equal((await api().request("GET", `/v1/runs/${crypto.randomUUID()}/model/model.json`)).status, 404);
  assert.equal((await api().request("GET", "/v1/runs/nope/model/model.json")).status, 404);
});

dbTest("a succeeded run's model.json lists shards named after the weights; each shard is its byte range", async () => {
  const id = await succeededRunWithModels();
  for (const weights of ["best", "final"] as const) {
    const res = await api().request("GET", `/v1/runs/${id}/model/model.json${weights === "best" ? "" : "?weights=final"}`, {
      token: api().tokens.read,
    });
    assert.equal(res.status, 200);
    const json = await res.json();
    assert.deepEqual(json.weightsManifest[0].paths, [`${weights}-shard1of2.bin`, `${weights}-shard2of2.bin`]);
    assert.deepEqual(json.weightsManifest[0].weights, [{ name: "dense/kernel", shape: [5 * 1024 * 256], dtype: "float32" }]);
    assert.equal(json.modelTopology.class_name, "Functional");
    assert.deepEqual(
      { ...json.userDefinedMetadata, preprocessing: undefined },
      {
        runId: id, runName: null, dataset: "synthetic", classNames: ["a", "b"], preprocessing: undefined, weights,
        epoch: weights === "best" ? 3 : 5, valAcc: 0.9, valLoss: 0.3, testAcc: 0.88, testLoss: 0.35,
      },
    );
  }
  // tf.loadLayersModel appends model.json's query string to the shard URLs: accepted when it agrees.
  const first = await api().request("GET", `/v1/runs/${id}/model/final-shard1of2.bin?weights=final`, { token: api().tokens.read });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-type"), "application/octet-stream");
  const a = new Uint8Array(await first.arrayBuffer());
  assert.equal(a.byteLength, 4 * 1024 * 1024);
  assert.ok(a.every((b) => b === 0xab));
  const b = new Uint8Array(await (await api().request("GET", `/v1/runs/${id}/model/final-shard2of2.bin`)).arrayBuffer());
  assert.equal(b.byteLength, 1024 * 1024);
  assert.ok(b.every((x) => x === 0xcd));
  const mismatch = await api().request("GET", `/v1/runs/${id}/model/final-shard1of2.bin?weights=best`);
  assert.equal(mismatch.status, 400);
  assert.match((await mismatch.json()).error.message, /weights=best disagrees with the shard final-shard1of2\.bin/);
  for (const name of ["final-shard3of2.bin", "final-shard1of3.bin", "other.bin", "best-shard0of2.bin"]) {
    assert.equal((await api().request("GET", `/v1/runs/${id}/model/${name}`)).status, 404, name);
  }
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/model.json?weights=latest`)).status, 400);
});

dbTest("model routes need the read scope; a succeeded run without a stored model is 404", async () => {
  const id = await createRun();
  await markRunning(api().sql, id);
  await finishRun(api().sql, id, "succeeded");
  const none = await api().request("GET", `/v1/runs/${id}/model/model.json`);
  assert.equal(none.status, 404);
  assert.match((await none.json()).error.message, /has no stored best model/);
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/model.json`, { token: null })).status, 401);
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/best-shard1of1.bin`, { token: null })).status, 401);
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/model.json`, { token: api().tokens.worker })).status, 403);
});

dbTest("pruned weights (weights set to null, README's pruning statement) answer 410 naming what was pruned; the figures stay in run_summary", async () => {
  const id = await succeededRunWithModels();
  await api().sql`update run_models set weights = null where run_id = ${id} and weights_kind = 'best'`;
  const gone = await api().request("GET", `/v1/runs/${id}/model/model.json`);
  assert.equal(gone.status, 410);
  const body = await gone.json();
  assert.equal(body.error.code, "gone");
  assert.match(body.error.message, /best weights were pruned from the database; its metrics and test figures remain/);
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/best-shard1of2.bin`)).status, 410);
  // The other kind is still served, and the summary keeps the pruned model's test figures.
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/model.json?weights=final`)).status, 200);
  const [summary] = await api().sql`select best_test_acc, final_test_acc from run_summary where run_id = ${id}`;
  assert.deepEqual({ ...summary }, { best_test_acc: 0.88, final_test_acc: 0.88 });
});

dbTest("DELETE /v1/runs/:id/model (admin): prunes a finished run's weights, says what it freed, is idempotent; not for running runs or other scopes", async () => {
  const id = await succeededRunWithModels();
  const bytes = 5 * 1024 * 1024;
  assert.equal((await api().request("DELETE", `/v1/runs/${id}/model`, { token: api().tokens.read })).status, 403);
  const best = await api().request("DELETE", `/v1/runs/${id}/model?weights=best`, { token: api().tokens.admin });
  assert.equal(best.status, 200);
  assert.deepEqual(await best.json(), { runId: id, pruned: [{ weights: "best", epoch: 3, freedBytes: bytes }] });
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/model.json`)).status, 410);
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/model.json?weights=final`)).status, 200);
  const all = await api().request("DELETE", `/v1/runs/${id}/model`, { token: api().tokens.admin });
  assert.deepEqual(await all.json(), {
    runId: id,
    pruned: [{ weights: "best", epoch: 3, freedBytes: 0 }, { weights: "final", epoch: 5, freedBytes: bytes }],
  });
  assert.equal((await api().request("GET", `/v1/runs/${id}/model/model.json?weights=final`)).status, 410);
  const [summary] = await api().sql`select best_test_acc, final_test_acc from run_summary where run_id = ${id}`;
  assert.deepEqual({ ...summary }, { best_test_acc: 0.88, final_test_acc: 0.88 });

  const bad = await api().request("DELETE", `/v1/runs/${id}/model?weights=latest`, { token: api().tokens.admin });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.issues[0].path, "weights");
  const running = await createRun();
  await markRunning(api().sql, running);
  await storeRunModel(api().sql, running, "best", 1);
  const busy = await api().request("DELETE", `/v1/runs/${running}/model`, { token: api().tokens.admin });
  assert.equal(busy.status, 409);
  assert.match((await busy.json()).error.message, /is running: its weights can be pruned once it has finished/);
  assert.equal((await api().request("GET", `/v1/runs/${running}/model/model.json`)).status, 409, "still stored, not served while running");
  const unknown = await api().request("DELETE", `/v1/runs/${crypto.randomUUID()}/model`, { token: api().tokens.admin });
  assert.equal(unknown.status, 404);
  const none = await createRun();
  await markRunning(api().sql, none);
  await finishRun(api().sql, none, "succeeded");
  const nothing = await api().request("DELETE", `/v1/runs/${none}/model`, { token: api().tokens.admin });
  assert.equal(nothing.status, 404);
  assert.match((await nothing.json()).error.message, /has no stored best or final model/);
});
