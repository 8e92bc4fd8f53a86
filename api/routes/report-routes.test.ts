import assert from "node:assert/strict";
import { dbTest, insertEpochs, useTestApi } from "../testing/test-api.ts";

const api = useTestApi();

// Two of the seed's Table 3 rows (runs 16 and 17), as a sweep over λ with a made-up metrics history
// that reproduces their figures: threshold epoch, acc_val, acc, best epoch, best val acc, final losses.
const SCHEDULE = "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]";
let sweepId = "";

Deno.test.beforeAll(async () => {
  const res = await api().request("POST", "/v1/sweeps", {
    json: { name: "table 3", base: { schedule: SCHEDULE }, grid: { "optimizer.lambda": [0.2, 0.15] } },
  });
  const sweep = await res.json();
  assert.equal(res.status, 201, JSON.stringify(sweep));
  sweepId = sweep.id;
  const [run16, run17] = sweep.runs;
  const history = (
    thresholdEpoch: number,
    accVal: number,
    acc: number,
    best: number,
    bestVal: number,
    loss: number,
    valLoss: number,
  ) =>
    Array.from({ length: 34 }, (_, i) => {
      const epoch = i + 1;
      if (epoch === thresholdEpoch) return { epoch, loss: 0.2, acc, valLoss: 0.3, valAcc: accVal };
      if (epoch === best) return { epoch, loss: 0.15, acc: 0.96, valLoss: 0.25, valAcc: bestVal };
      if (epoch === 34) return { epoch, loss, acc: 0.97, valLoss, valAcc: 0.92 };
      return { epoch, loss: 1, acc: 0.5, valLoss: 1, valAcc: epoch < thresholdEpoch ? 0.5 : 0.921 };
    });
  await insertEpochs(api().sql, run16.id, history(24, 0.9219, 0.9611, 30, 0.92324, 0.1021, 0.2332));
  await insertEpochs(api().sql, run17.id, history(23, 0.9231, 0.959, 29, 0.9257, 0.0903, 0.2317));
  // Run 17's stored models with their test-set figures (what a worker writes at the run's end).
  for (const [kind, epoch, acc, loss] of [["best", 29, 0.9211, 0.2411], ["final", 34, 0.9187, 0.2502]] as const) {
    await api().sql`insert into run_models (run_id, weights_kind, epoch, val_acc, val_loss, test_acc, test_loss, model, weights, attempt)
      values (${run17.id}, ${kind}, ${epoch}, 0.92, 0.25, ${acc}, ${loss}, '{}'::jsonb, '\\x00'::bytea, 1)`;
  }
});

dbTest("GET /v1/report?format=md reproduces the seed's table rows for a sweep", async () => {
  const res = await api().request("GET", `/v1/report?sweep=${sweepId}&format=md`, {
    token: api().tokens.read,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/markdown/);
  const lines = (await res.text()).trim().split("\n");
  assert.equal(
    lines[0],
    "| # | epoch | acc_val | acc | epo best | val acc best | final loss | final val loss | test acc best | test acc final | shift | l2 | λ | α | LR reduction model |",
  );
  assert.equal(
    lines[2],
    "| table 3 #1 | 24 | 0.92190 | 0.9611 | 30 | 0.92324 | 0.1021 | 0.2332 | – | – | 0.07 | 0.0 | 0.20 | 1e-3 | [1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34] |",
  );
  assert.equal(
    lines[3],
    "| table 3 #2 | 23 | 0.92310 | 0.9590 | 29 | 0.92570 | 0.0903 | 0.2317 | 0.92110 | 0.91870 | 0.07 | 0.0 | 0.15 | 1e-3 | [1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34] |",
  );
});

dbTest("GET /v1/report as json and csv carries the same figures at full precision", async () => {
  const json = await (await api().request("GET", `/v1/report?sweep=${sweepId}`)).json();
  assert.equal(json.rows.length, 2);
  const { runId: _id, ...row } = json.rows[1];
  assert.deepEqual(row, {
    run: "table 3 #2",
    state: "queued",
    thresholdEpoch: 23,
    accVal: 0.9231,
    acc: 0.959,
    bestEpoch: 29,
    bestValAcc: 0.9257,
    finalLoss: 0.0903,
    finalValLoss: 0.2317,
    bestTestAcc: 0.9211,
    bestTestLoss: 0.2411,
    finalTestAcc: 0.9187,
    finalTestLoss: 0.2502,
    shift: 0.07,
    l2: 0,
    lambda: 0.15,
    alpha: 0.001,
    schedule: "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]",
    wdSchedule: null,
  });
  const csv = await api().request("GET", `/v1/report?sweep=${sweepId}&format=csv`);
  assert.match(csv.headers.get("content-type")!, /^text\/csv/);
  const lines = (await csv.text()).trim().split("\r\n");
  assert.equal(
    lines[0],
    "run,run_id,state,threshold_epoch,acc_val,acc,best_epoch,best_val_acc,final_loss,final_val_loss,best_test_acc,best_test_loss,final_test_acc,final_test_loss,shift,l2,lambda,alpha,schedule,wd_schedule",
  );
  assert.match(
    lines[2]!,
    /^table 3 #2,[0-9a-f-]{36},queued,23,0\.9231,0\.959,29,0\.9257,0\.0903,0\.2317,0\.9211,0\.2411,0\.9187,0\.2502,0\.07,0,0\.15,0\.001,"\[1e-3, 0\]lin/,
  );
});

dbTest(
  "GET /v1/report shows runs without metrics with empty figures; unknown sweep 404; bad format 400",
  async () => {
    const run =
      await (await api().request("POST", "/v1/runs", { json: { schedule: SCHEDULE, name: "fresh" } })).json();
    const all = await (await api().request("GET", "/v1/report?format=json")).json();
    const fresh = all.rows.find((r: { runId: string }) => r.runId === run.id);
    assert.equal(fresh.thresholdEpoch, null);
    assert.equal(fresh.bestValAcc, null);
    const md = await (await api().request("GET", "/v1/report?format=md")).text();
    assert.match(md, /\| fresh \| – \| – \| – \| – \| – \| – \| – \| – \| – \| 0\.07 \|/);
    assert.equal((await api().request("GET", `/v1/report?sweep=${crypto.randomUUID()}`)).status, 404);
    assert.equal((await api().request("GET", "/v1/report?format=xlsx")).status, 400);
    assert.equal((await api().request("GET", "/v1/report", { token: api().tokens.worker })).status, 403);
  },
);
