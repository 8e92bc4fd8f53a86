import assert from "node:assert/strict";
import { dbTest, insertEpochs, markRunning, SMALL_SPEC, useTestApi } from "../testing/test-api.ts";

const api = useTestApi();

const runCount = async () => (await api().sql<{ n: number }[]>`select count(*)::int as n from runs`)[0]!.n;
const sweepCount = async () =>
  (await api().sql<{ n: number }[]>`select count(*)::int as n from sweeps`)[0]!.n;

dbTest(
  "POST /v1/sweeps creates the sweep and one stored, defaulted run per grid point and repeat",
  async () => {
    const res = await api().request("POST", "/v1/sweeps", {
      token: api().tokens.submit,
      json: {
        name: "lambda × schedule",
        base: { ...SMALL_SPEC, name: undefined },
        grid: {
          "optimizer.lambda": [0.15, 0.2, 0.3],
          schedule: ["[1e-3, 0]cos[1e-5, 3]", "[8e-4, 0]lin[1e-5, 5]"],
        },
        repeat: 2,
      },
    });
    assert.equal(res.status, 201);
    const sweep = await res.json();
    assert.equal(res.headers.get("location"), `/v1/sweeps/${sweep.id}`);
    assert.equal(sweep.runs.length, 12);
    assert.deepEqual(sweep.counts, { queued: 12, running: 0, succeeded: 0, failed: 0, cancelled: 0 });
    assert.deepEqual(sweep.grid, {
      "optimizer.lambda": [0.15, 0.2, 0.3],
      schedule: ["[1e-3, 0]cos[1e-5, 3]", "[8e-4, 0]lin[1e-5, 5]"],
    });
    const rows = await api()
      .sql`select name, lambda, schedule, epochs, (spec #>> '{data,seed}')::int as seed, sweep_id
    from runs where sweep_id = ${sweep.id} order by created_at`;
    assert.deepEqual(rows.map((r) => [r.name, r.lambda, r.epochs, r.seed]), [
      ["lambda × schedule #01", 0.15, 3, 1],
      ["lambda × schedule #02", 0.15, 3, 2],
      ["lambda × schedule #03", 0.15, 5, 1],
      ["lambda × schedule #04", 0.15, 5, 2],
      ["lambda × schedule #05", 0.2, 3, 1],
      ["lambda × schedule #06", 0.2, 3, 2],
      ["lambda × schedule #07", 0.2, 5, 1],
      ["lambda × schedule #08", 0.2, 5, 2],
      ["lambda × schedule #09", 0.3, 3, 1],
      ["lambda × schedule #10", 0.3, 3, 2],
      ["lambda × schedule #11", 0.3, 5, 1],
      ["lambda × schedule #12", 0.3, 5, 2],
    ]);
    // The listing order is the sweep's order.
    assert.deepEqual(sweep.runs.map((r: { name: string }) => r.name), rows.map((r) => r.name));
  },
);

dbTest(
  "POST /v1/sweeps is all or nothing: one invalid expanded spec creates no sweep and no run",
  async () => {
    const [runs, sweeps] = [await runCount(), await sweepCount()];
    const res = await api().request("POST", "/v1/sweeps", {
      json: { base: SMALL_SPEC, grid: { "optimizer.lambda": [0.1, 0.2, -0.5], "data.seed": [1, 2] } },
    });
    assert.equal(res.status, 422);
    const body = await res.json();
    assert.equal(body.error.code, "validation_failed");
    assert.deepEqual(body.error.issues.map((i: { path: string }) => i.path), ["grid.optimizer.lambda.2"]);
    assert.equal(await runCount(), runs);
    assert.equal(await sweepCount(), sweeps);
  },
);

dbTest("POST /v1/sweeps refuses more than 1000 runs, and accepts exactly 1000", async () => {
  const runs = await runCount();
  const seeds = Array.from({ length: 500 }, (_, i) => i);
  const over = await api().request("POST", "/v1/sweeps", {
    json: { base: SMALL_SPEC, grid: { "data.seed": seeds }, repeat: 3 },
  });
  assert.equal(over.status, 422);
  assert.match((await over.json()).error.issues[0].message, /at most 1000 runs, found 1500/);
  assert.equal(await runCount(), runs);
  const started = performance.now();
  const ok = await api().request("POST", "/v1/sweeps", {
    json: { base: SMALL_SPEC, grid: { "data.seed": seeds }, repeat: 2 },
  });
  assert.equal(ok.status, 201);
  assert.equal((await ok.json()).runs.length, 1000);
  assert.equal(await runCount(), runs + 1000);
  assert.ok(performance.now() - started < 10_000);
});

dbTest(
  "POST /v1/sweeps validates its own shape: bad grid paths, empty value lists, unknown fields",
  async () => {
    for (
      const json of [
        { base: SMALL_SPEC, grid: { "optimizer..lambda": [1] } },
        { base: SMALL_SPEC, grid: { "optimizer.lambda": [] } },
        { base: SMALL_SPEC, grid: { "optimizer.lambda": 0.1 } },
        { base: SMALL_SPEC, repeat: 0 },
        { base: SMALL_SPEC, colour: "red" },
        { base: "not an object" },
      ]
    ) {
      const res = await api().request("POST", "/v1/sweeps", { json });
      assert.equal(res.status, 422, JSON.stringify(json));
      assert.ok((await res.json()).error.issues.length > 0);
    }
  },
);

dbTest("GET /v1/sweeps/:id shows per-run states, counts and summaries; unknown id 404", async () => {
  const created = await (await api().request("POST", "/v1/sweeps", {
    json: { name: "states", base: SMALL_SPEC, grid: { "data.seed": [1, 2, 3] } },
  })).json();
  const [a, b] = created.runs;
  await markRunning(api().sql, a.id);
  await api().request("POST", `/v1/runs/${b.id}/cancel`);
  await insertEpochs(api().sql, a.id, [{ epoch: 1, loss: 1, acc: 0.5, valLoss: 1.2, valAcc: 0.4 }]);
  const res = await api().request("GET", `/v1/sweeps/${created.id}`, { token: api().tokens.read });
  assert.equal(res.status, 200);
  const sweep = await res.json();
  assert.deepEqual(sweep.counts, { queued: 1, running: 1, succeeded: 0, failed: 0, cancelled: 1 });
  assert.deepEqual(sweep.runs.map((r: { state: string }) => r.state), ["running", "cancelled", "queued"]);
  assert.equal(sweep.runs[0].summary.bestValAcc, 0.4);
  assert.equal(sweep.runs[0].summary.epochsDone, 1);
  const runs = await (await api().request("GET", `/v1/runs?sweep=${created.id}&sort=createdAt`)).json();
  assert.deepEqual(runs.runs.map((r: { id: string }) => r.id), created.runs.map((r: { id: string }) => r.id));
  assert.equal((await api().request("GET", `/v1/sweeps/${crypto.randomUUID()}`)).status, 404);
  assert.equal(
    (await api().request("POST", "/v1/sweeps", { json: { base: SMALL_SPEC }, token: api().tokens.read }))
      .status,
    403,
  );
});
