/**
 * The response contract, walked: every endpoint the app declares is called until it gives its success
 * answer, and (through the test API) every answer is checked against the route's declared statuses and
 * schemas. A new endpoint without an example here fails the coverage test, so none is left unchecked.
 * The live-stream endpoints are not mounted in this app: test/stream-app.deno.test.ts checks them.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { declaredRoutes } from "../create-app.ts";
import { responseBreaches } from "../http/response-contract.ts";
import type { AnyRouteSpec } from "../http/router.ts";
import {
  dbTest,
  finishRun,
  insertEpochs,
  markRunning,
  SMALL_SPEC,
  succeedWithModels,
  type TestApi,
  useTestApi,
} from "../testing/test-api.ts";

const api = useTestApi();

/** One request per operation, made against fresh fixtures, and the success status it must reach. */
type Example = (a: TestApi) => Promise<{ res: Response; expect: number }>;

async function newRun(a: TestApi, name = "contract"): Promise<string> {
  const res = await a.request("POST", "/v1/runs", { json: { ...SMALL_SPEC, name } });
  assert.equal(res.status, 201);
  return (await res.json()).id;
}

async function succeededRunWithModel(a: TestApi): Promise<string> {
  const id = await newRun(a);
  await insertEpochs(a.sql, id, [1, 2, 3].map((epoch) => ({ epoch, loss: 1 / epoch, acc: 0.5, valLoss: 1, valAcc: 0.4 + epoch / 10 })));
  await succeedWithModels(a.sql, id, 3, 3);
  return id;
}

async function sweep(a: TestApi): Promise<string> {
  const res = await a.request("POST", "/v1/sweeps", { json: { name: "c", base: SMALL_SPEC, grid: { "optimizer.lambda": [0.1, 0.2] } } });
  assert.equal(res.status, 201);
  return (await res.json()).id;
}

const EXAMPLES: Record<string, Example> = {
  createRun: async (a) => ({ res: await a.request("POST", "/v1/runs", { json: SMALL_SPEC }), expect: 201 }),
  listRuns: async (a) => {
    await succeededRunWithModel(a);
    return { res: await a.request("GET", "/v1/runs?limit=5&sort=-createdAt"), expect: 200 };
  },
  getRun: async (a) => ({ res: await a.request("GET", `/v1/runs/${await succeededRunWithModel(a)}`), expect: 200 }),
  getRunMetrics: async (a) => ({ res: await a.request("GET", `/v1/runs/${await succeededRunWithModel(a)}/metrics`), expect: 200 }),
  cancelRun: async (a) => ({ res: await a.request("POST", `/v1/runs/${await newRun(a)}/cancel`), expect: 200 }),
  retryRun: async (a) => {
    const id = await newRun(a);
    await markRunning(a.sql, id);
    await finishRun(a.sql, id, "failed");
    return { res: await a.request("POST", `/v1/runs/${id}/retry`), expect: 201 };
  },
  getRunModel: async (a) => ({ res: await a.request("GET", `/v1/runs/${await succeededRunWithModel(a)}/model/model.json`), expect: 200 }),
  getRunModelShard: async (a) => ({
    res: await a.request("GET", `/v1/runs/${await succeededRunWithModel(a)}/model/final-shard2of2.bin`),
    expect: 200,
  }),
  pruneRunModel: async (a) => ({ res: await a.request("DELETE", `/v1/runs/${await succeededRunWithModel(a)}/model`), expect: 200 }),
  createSweep: async (a) => ({
    res: await a.request("POST", "/v1/sweeps", { json: { name: "s", base: SMALL_SPEC, grid: { batchSize: [16, 32] } } }),
    expect: 201,
  }),
  getSweep: async (a) => ({ res: await a.request("GET", `/v1/sweeps/${await sweep(a)}`), expect: 200 }),
  getReport: async (a) => ({ res: await a.request("GET", `/v1/report?sweep=${await sweep(a)}&format=json`), expect: 200 }),
  runSql: async (a) => ({ res: await a.request("POST", "/v1/sql", { json: { sql: "select run_id, epoch from epoch_metrics_view limit 3" } }), expect: 200 }),
  createToken: async (a) => ({ res: await a.request("POST", "/v1/tokens", { json: { name: "c", scopes: ["read"] } }), expect: 201 }),
  listTokens: async (a) => ({ res: await a.request("GET", "/v1/tokens"), expect: 200 }),
  revokeToken: async (a) => {
    const created = await a.request("POST", "/v1/tokens", { json: { name: "gone", scopes: ["read"] } });
    return { res: await a.request("DELETE", `/v1/tokens/${(await created.json()).id}`), expect: 200 };
  },
  listWorkers: async (a) => {
    await a.sql`insert into workers (id, host, pid, backend, device, version) values ('w-contract', 'h', 1, 'fake', 'none', 't')`;
    return { res: await a.request("GET", "/v1/workers"), expect: 200 };
  },
  health: async (a) => ({ res: await a.request("GET", "/healthz", { token: null }), expect: 200 }),
  openapi: async (a) => ({ res: await a.request("GET", "/openapi.json", { token: null }), expect: 200 }),
  docs: async (a) => ({ res: await a.request("GET", "/docs", { token: null }), expect: 200 }),
};

dbTest("every declared endpoint has an example in this walk", async () => {
  const declared = declaredRoutes(api().app).map((r) => r.operationId).sort();
  assert.deepEqual(Object.keys(EXAMPLES).sort(), declared);
});

for (const [operationId, example] of Object.entries(EXAMPLES)) {
  dbTest(`${operationId}: its success answer matches the declared status and schema`, async () => {
    // The test API throws on any breach of the declaration, for the fixtures' requests too.
    const { res, expect } = await example(api());
    assert.equal(res.status, expect, await res.clone().text());
    await res.body?.cancel();
  });
}

dbTest("the walk's checker fails undocumented statuses, wrong media types, bad bodies, undeclared fields and shapeless errors", async () => {
  const route: AnyRouteSpec = {
    method: "get",
    path: "/v1/things/:id",
    operationId: "getThing",
    summary: "a thing",
    tag: "t",
    scope: "read",
    responses: { 200: { description: "ok", schema: z.object({ n: z.number() }), alternatives: ["text/csv"] } },
  };
  const check = (res: Response) => responseBreaches([route], "GET", "/v1/things/7", res);
  assert.deepEqual(await check(Response.json({ n: 1 })), []);
  assert.deepEqual(await check(new Response("n\n1", { headers: { "content-type": "text/csv" } })), []);
  assert.deepEqual(await check(Response.json({ error: { code: "forbidden", message: "no" } }, { status: 403 })), []);
  assert.match((await check(Response.json({}, { status: 418 })))[0] ?? "", /answered 418, which it does not document/);
  assert.match((await check(new Response("<p>", { headers: { "content-type": "text/html" } })))[0] ?? "", /sent text\/html/);
  assert.match((await check(Response.json({ n: "1" })))[0] ?? "", /200 body at n:/);
  assert.match((await check(Response.json({ oops: true }, { status: 404 })))[0] ?? "", /404|does not document/);
  assert.match((await check(Response.json({ oops: true }, { status: 401 })))[0] ?? "", /401 body at error/);
  assert.match((await check(Response.json({ n: 1, secret: "x" })))[0] ?? "", /200 body has secret, which its schema does not declare/);
  const listRoute: AnyRouteSpec = {
    ...route,
    responses: { 200: { description: "ok", schema: z.object({ items: z.array(z.object({ n: z.number() })), meta: z.record(z.string(), z.unknown()) }) } },
  };
  const list = (body: unknown) => responseBreaches([listRoute], "GET", "/v1/things/7", Response.json(body));
  assert.deepEqual(await list({ items: [{ n: 1 }], meta: { anything: { goes: 1 } } }), [], "a record's keys are open");
  assert.match((await list({ items: [{ n: 1 }, { n: 2, x: 0 }], meta: {} }))[0] ?? "", /body has items\[1\]\.x/);
  assert.deepEqual(await responseBreaches([route], "GET", "/v1/other", Response.json({})), [], "not a declared route");
});
