import assert from "node:assert/strict";
import { parseRunSpec } from "../../shared/run-spec.ts";
import { dbTest, finishRun, insertEpochs, markRunning, SMALL_SPEC, useTestApi } from "../testing/test-api.ts";

const api = useTestApi();

async function createRun(spec: unknown = SMALL_SPEC, headers: Record<string, string> = {}) {
  const res = await api().request("POST", "/v1/runs", { json: spec, token: api().tokens.submit, headers });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

const runCount = async () => (await api().sql<{ n: number }[]>`select count(*)::int as n from runs`)[0]!.n;

dbTest("POST /v1/runs stores the fully defaulted spec and epochs = the schedule's last epoch", async () => {
  const res = await api().request("POST", "/v1/runs", {
    json: {
      schedule: "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]",
      name: "run 17",
      tags: ["table3"],
    },
    token: api().tokens.submit,
  });
  assert.equal(res.status, 201);
  const run = await res.json();
  assert.equal(res.headers.get("location"), `/v1/runs/${run.id}`);
  const expected = parseRunSpec({
    schedule: "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]",
    name: "run 17",
    tags: ["table3"],
  });
  assert.ok(expected.ok);
  const [row] = await api()
    .sql`select spec, epochs, name, tags, state, priority, max_attempts from runs where id = ${run.id}`;
  assert.deepEqual(row!.spec, expected.spec);
  assert.equal(row!.epochs, 34);
  assert.deepEqual({ ...row, spec: undefined }, {
    spec: undefined,
    epochs: 34,
    name: "run 17",
    tags: ["table3"],
    state: "queued",
    priority: 0,
    max_attempts: 3,
  });
  assert.equal(run.state, "queued");
  assert.equal(run.epochs, 34);
  assert.deepEqual(run.spec, expected.spec);
  assert.equal(run.summary.bestValAcc, null);
});

dbTest("POST /v1/runs answers 422 with the spec's issues (path + message) and stores nothing", async () => {
  const before = await runCount();
  const res = await api().request("POST", "/v1/runs", {
    json: { schedule: "[1e-3, 0]sin[1e-5, 10]", optimizer: { lambda: -1, learningRate: 3 } },
  });
  assert.equal(res.status, 422);
  const body = await res.json();
  assert.equal(body.error.code, "validation_failed");
  const byPath = Object.fromEntries(
    body.error.issues.map((i: { path: string; message: string }) => [i.path, i.message]),
  );
  assert.match(byPath["schedule"], /expected 'lin' or 'cos' at offset 9, found 'sin'/);
  assert.match(byPath["optimizer.lambda"], /≥ 0, found -1/);
  assert.match(byPath["optimizer.learningRate"], /unknown field 'learningRate'/);
  assert.equal(await runCount(), before);
});

dbTest(
  "POST /v1/runs: malformed JSON is 400, a non-JSON content type 415, a body over 1 MiB 413",
  async () => {
    const bad = await api().request("POST", "/v1/runs", {
      body: '{"schedule": ',
      headers: { "content-type": "application/json" },
    });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, "invalid_json");

    const text = await api().request("POST", "/v1/runs", {
      body: "schedule=x",
      headers: { "content-type": "text/plain" },
    });
    assert.equal(text.status, 415);
    assert.equal((await text.json()).error.code, "unsupported_media_type");

    const none = await api().request("POST", "/v1/runs", { body: JSON.stringify(SMALL_SPEC) });
    assert.equal(none.status, 415);

    const huge = JSON.stringify({ ...SMALL_SPEC, name: "x".repeat(1024 * 1024) });
    const big = await api().request("POST", "/v1/runs", {
      body: huge,
      headers: { "content-type": "application/json" },
    });
    assert.equal(big.status, 413);
    assert.equal((await big.json()).error.code, "payload_too_large");

    // Exactly at the limit is allowed through to validation (here: the name is too long → 422).
    const pad = 1024 * 1024 - JSON.stringify({ ...SMALL_SPEC, name: "" }).length;
    const atLimit = JSON.stringify({ ...SMALL_SPEC, name: "y".repeat(pad) });
    assert.equal(new TextEncoder().encode(atLimit).length, 1024 * 1024);
    const edge = await api().request("POST", "/v1/runs", {
      body: atLimit,
      headers: { "content-type": "application/json" },
    });
    assert.equal(edge.status, 422);
  },
);

dbTest(
  "POST /v1/runs with an Idempotency-Key: same body → same run (200, replayed), other body → 409",
  async () => {
    const key = crypto.randomUUID();
    const first = await api().request("POST", "/v1/runs", {
      json: SMALL_SPEC,
      headers: { "idempotency-key": key },
    });
    assert.equal(first.status, 201);
    const run = await first.json();
    // Same meaning, different key order and explicit defaults: the same request.
    const again = await api().request("POST", "/v1/runs", {
      json: { priority: 0, maxAttempts: 3, ...Object.fromEntries(Object.entries(SMALL_SPEC).reverse()) },
      headers: { "idempotency-key": key },
    });
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("idempotent-replayed"), "true");
    assert.equal((await again.json()).id, run.id);
    const other = await api().request("POST", "/v1/runs", {
      json: { ...SMALL_SPEC, name: "other" },
      headers: { "idempotency-key": key },
    });
    assert.equal(other.status, 409);
    const body = await other.json();
    assert.equal(body.error.code, "idempotency_conflict");
    const bad = await api().request("POST", "/v1/runs", {
      json: SMALL_SPEC,
      headers: { "idempotency-key": "has space" },
    });
    assert.equal(bad.status, 400);
  },
);

dbTest("20 concurrent identical POSTs with one Idempotency-Key create exactly one run", async () => {
  const key = `concurrent-${crypto.randomUUID()}`;
  const responses = await Promise.all(
    Array.from(
      { length: 20 },
      () =>
        api().request("POST", "/v1/runs", {
          json: { ...SMALL_SPEC, name: key },
          headers: { "idempotency-key": key },
        }),
    ),
  );
  const statuses = responses.map((r) => r.status).sort();
  const ids = new Set(await Promise.all(responses.map(async (r) => (await r.json()).id)));
  assert.deepEqual(statuses, [200, ...Array(18).fill(200), 201].sort());
  assert.equal(ids.size, 1);
  const [row] = await api().sql<{ n: number }[]>`select count(*)::int as n from runs where name = ${key}`;
  assert.equal(row!.n, 1);
});

dbTest(
  "GET /v1/runs/:id returns the run with its summary figures; unknown and malformed ids are 404",
  async () => {
    const run = await createRun({ ...SMALL_SPEC, threshold: 0.9 });
    await insertEpochs(api().sql, run.id, [
      { epoch: 1, loss: 1.2, acc: 0.6, valLoss: 1.1, valAcc: 0.61 },
      { epoch: 2, loss: 0.8, acc: 0.93, valLoss: 0.7, valAcc: 0.91 },
      { epoch: 3, loss: 0.5, acc: 0.95, valLoss: 0.6, valAcc: 0.905 },
    ]);
    const res = await api().request("GET", `/v1/runs/${run.id}`, { token: api().tokens.read });
    assert.equal(res.status, 200);
    const got = await res.json();
    assert.deepEqual(got.summary, {
      thresholdEpoch: 2,
      accVal: 0.91,
      acc: 0.93,
      bestEpoch: 2,
      bestValAcc: 0.91,
      finalLoss: 0.5,
      finalValLoss: 0.6,
      epochsDone: 3,
      // Test-set figures come with a succeeded run's stored models (test/model-export-e2e.test.ts).
      bestTestAcc: null,
      bestTestLoss: null,
      finalTestAcc: null,
      finalTestLoss: null,
    });
    for (
      const key of ["attempt", "workerId", "createdAt", "startedAt", "finishedAt", "error", "spec", "state"]
    ) {
      assert.ok(key in got, key);
    }
    const missing = await api().request("GET", `/v1/runs/${crypto.randomUUID()}`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error.code, "not_found");
    const malformed = await api().request("GET", "/v1/runs/not-a-uuid");
    assert.equal(malformed.status, 404);
  },
);

dbTest("GET /v1/runs/:id/metrics returns every epoch in order, as JSON or CSV", async () => {
  const run = await createRun();
  await insertEpochs(api().sql, run.id, [
    { epoch: 2, loss: 0.8, acc: 0.7, valLoss: 0.9, valAcc: 0.65 },
    { epoch: 1, loss: 1.2, acc: 0.6, valLoss: 1.1, valAcc: 0.61 },
  ]);
  const res = await api().request("GET", `/v1/runs/${run.id}/metrics`, { token: api().tokens.read });
  const body = await res.json();
  assert.equal(body.runId, run.id);
  assert.deepEqual(body.epochs.map((e: { epoch: number }) => e.epoch), [1, 2]);
  assert.deepEqual(Object.keys(body.epochs[0]).sort(), [
    "acc",
    "attempt",
    "epoch",
    "imagesPerSec",
    "loss",
    "lr",
    "seconds",
    "valAcc",
    "valLoss",
    "wd",
  ]);
  const csv = await api().request("GET", `/v1/runs/${run.id}/metrics`, { headers: { accept: "text/csv" } });
  assert.match(csv.headers.get("content-type")!, /^text\/csv/);
  const lines = (await csv.text()).trim().split("\r\n");
  assert.equal(lines[0], "epoch,loss,acc,val_loss,val_acc,lr,wd,seconds,images_per_sec,attempt");
  assert.equal(lines[1], "1,1.2,0.6,1.1,0.61,0.001,0.00015,10,100,1");
  const empty = await api().request("GET", `/v1/runs/${(await createRun()).id}/metrics`);
  assert.deepEqual((await empty.json()).epochs, []);
  assert.equal((await api().request("GET", `/v1/runs/${crypto.randomUUID()}/metrics`)).status, 404);
});

dbTest("GET /v1/runs filters by state, sweep, tag and name prefix", async () => {
  const tag = `t-${crypto.randomUUID().slice(0, 8)}`;
  const a = await createRun({ ...SMALL_SPEC, name: `${tag} alpha`, tags: [tag, "x"] });
  const b = await createRun({ ...SMALL_SPEC, name: `${tag} beta`, tags: [tag] });
  await createRun({ ...SMALL_SPEC, name: `${tag} gamma`, tags: ["other"] });
  await markRunning(api().sql, b.id);
  const names = async (query: string) => {
    const res = await api().request("GET", `/v1/runs?${query}`, { token: api().tokens.read });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()).runs.map((r: { name: string }) => r.name).sort();
  };
  assert.deepEqual(await names(`tag=${tag}`), [`${tag} alpha`, `${tag} beta`]);
  assert.deepEqual(await names(`tag=${tag}&tag=x`), [`${tag} alpha`]);
  assert.deepEqual(await names(`tag=${tag},x`), [`${tag} alpha`]);
  assert.deepEqual(await names(`namePrefix=${encodeURIComponent(tag)}&state=running`), [`${tag} beta`]);
  assert.deepEqual(await names(`namePrefix=${encodeURIComponent(tag)}&state=queued,running`), [
    `${tag} alpha`,
    `${tag} beta`,
    `${tag} gamma`,
  ]);
  assert.deepEqual(await names(`namePrefix=${encodeURIComponent(`${tag} g`)}`), [`${tag} gamma`]);
  assert.deepEqual(await names(`sweep=${crypto.randomUUID()}`), []);
  assert.ok(a.id);
});

dbTest("GET /v1/runs pages with cursors through every run once, in each sort order", async () => {
  const prefix = `page-${crypto.randomUUID().slice(0, 8)}`;
  // A sweep gives 25 runs created in one transaction: equal now(), so the id tie-break matters too.
  const sweep = await api().request("POST", "/v1/sweeps", {
    json: {
      base: { ...SMALL_SPEC, name: prefix },
      grid: { "data.seed": Array.from({ length: 25 }, (_, i) => i) },
    },
  });
  assert.equal(sweep.status, 201);
  for (const sort of ["-createdAt", "createdAt", "name", "-name"]) {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `namePrefix=${prefix}&limit=7&sort=${sort}${cursor ? `&cursor=${cursor}` : ""}`;
      const res = await api().request("GET", `/v1/runs?${q}`);
      const body: { runs: { name: string }[]; nextCursor: string | null } = await res.json();
      assert.equal(res.status, 200);
      seen.push(...body.runs.map((r) => r.name));
      cursor = body.nextCursor;
      pages++;
    } while (cursor !== null);
    assert.equal(pages, 4, sort);
    assert.equal(seen.length, 25, sort);
    assert.equal(new Set(seen).size, 25, sort);
    const ascending = [...seen].sort();
    assert.deepEqual(seen, sort === "name" || sort === "createdAt" ? ascending : ascending.reverse(), sort);
  }
});

dbTest(
  "GET /v1/runs refuses limit > 1000, unknown parameters, bad states and foreign cursors with 400",
  async () => {
    for (
      const q of [
        "limit=1001",
        "limit=0",
        "limit=ten",
        "state=done",
        "sort=speed",
        "colour=red",
        "sweep=123",
        "cursor=%%%",
      ]
    ) {
      const res = await api().request("GET", `/v1/runs?${q}`);
      assert.equal(res.status, 400, q);
      const body = await res.json();
      assert.equal(body.error.code, "bad_request", q);
    }
    const ok = await api().request("GET", "/v1/runs?limit=1000");
    assert.equal(ok.status, 200);
    const page = await (await api().request("GET", "/v1/runs?limit=1&sort=name")).json();
    if (page.nextCursor !== null) {
      const mismatch = await api().request(
        "GET",
        `/v1/runs?limit=1&sort=-createdAt&cursor=${page.nextCursor}`,
      );
      assert.equal(mismatch.status, 400);
      assert.match((await mismatch.json()).error.message, /sort=name/);
    }
  },
);

dbTest("POST /v1/runs/:id/cancel ends a queued run at once with a state event", async () => {
  const run = await createRun();
  const res = await api().request("POST", `/v1/runs/${run.id}/cancel`, { token: api().tokens.submit });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.state, "cancelled");
  assert.ok(body.finishedAt);
  const events = await api().sql`select type, payload from run_events where run_id = ${run.id} order by seq`;
  assert.deepEqual(events.map((e) => [e.type, e.payload.state]), [["state", "cancelled"]]);
  // Cancelling it again: it has finished.
  const again = await api().request("POST", `/v1/runs/${run.id}/cancel`);
  assert.equal(again.status, 409);
  assert.equal((await again.json()).error.code, "conflict");
});

dbTest(
  "POST /v1/runs/:id/cancel on a running run sets cancel_requested_at and NOTIFYs run_cancel with the id",
  async () => {
    const run = await createRun();
    await markRunning(api().sql, run.id);
    const heard: string[] = [];
    const listener = await api().sql.listen("run_cancel", (payload) => heard.push(payload));
    try {
      const res = await api().request("POST", `/v1/runs/${run.id}/cancel`);
      assert.equal(res.status, 202);
      const body = await res.json();
      assert.equal(body.state, "running");
      assert.ok(body.cancelRequestedAt);
      for (let i = 0; i < 50 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(heard, [run.id]);
      // Asking again while the worker has not stopped yet is still 202, and notifies nobody again.
      const again = await api().request("POST", `/v1/runs/${run.id}/cancel`);
      assert.equal(again.status, 202);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(heard, [run.id]);
    } finally {
      await listener.unlisten();
    }
  },
);

dbTest("POST /v1/runs/:id/cancel on a finished run is 409, on an unknown run 404", async () => {
  const run = await createRun();
  await markRunning(api().sql, run.id);
  await finishRun(api().sql, run.id, "succeeded");
  const res = await api().request("POST", `/v1/runs/${run.id}/cancel`);
  assert.equal(res.status, 409);
  assert.match((await res.json()).error.message, /is succeeded/);
  assert.equal((await api().request("POST", `/v1/runs/${crypto.randomUUID()}/cancel`)).status, 404);
});

dbTest(
  "POST /v1/runs/:id/retry makes a new queued run from a failed or cancelled run's spec; 409 otherwise",
  async () => {
    const failed = await createRun({ ...SMALL_SPEC, name: "to retry", tags: ["r"] });
    await markRunning(api().sql, failed.id);
    await finishRun(api().sql, failed.id, "failed");
    const res = await api().request("POST", `/v1/runs/${failed.id}/retry`, { token: api().tokens.submit });
    assert.equal(res.status, 201);
    const retried = await res.json();
    assert.notEqual(retried.id, failed.id);
    assert.equal(retried.state, "queued");
    assert.deepEqual(retried.spec, failed.spec);
    assert.equal(retried.name, "to retry");
    assert.deepEqual(retried.tags, ["r"]);

    const queued = await createRun();
    const conflict = await api().request("POST", `/v1/runs/${queued.id}/retry`);
    assert.equal(conflict.status, 409);
    await api().request("POST", `/v1/runs/${queued.id}/cancel`);
    assert.equal((await api().request("POST", `/v1/runs/${queued.id}/retry`)).status, 201);
    assert.equal((await api().request("POST", `/v1/runs/${crypto.randomUUID()}/retry`)).status, 404);
  },
);

dbTest(
  "run endpoints need the right scope: read may read, submit may also write, worker may do neither",
  async () => {
    const { tokens } = api();
    const get = (token: string) => api().request("GET", "/v1/runs?limit=1", { token });
    const post = (token: string) => api().request("POST", "/v1/runs", { json: SMALL_SPEC, token });
    assert.equal((await get(tokens.read)).status, 200);
    assert.equal((await get(tokens.submit)).status, 200);
    assert.equal((await get(tokens.admin)).status, 200);
    assert.equal((await get(tokens.worker)).status, 403);
    assert.equal((await post(tokens.read)).status, 403);
    assert.equal((await post(tokens.worker)).status, 403);
    assert.equal((await post(tokens.submit)).status, 201);
    const forbidden = await (await post(tokens.read)).json();
    assert.equal(forbidden.error.code, "forbidden");
    assert.match(forbidden.error.message, /'submit' scope/);
  },
);
