import assert from "node:assert/strict";
import postgres from "postgres";
import { createApp } from "../create-app.ts";
import { memoryLogger } from "../../shared/logger.ts";
import { dbTest, useTestApi } from "../testing/test-api.ts";

const api = useTestApi();

dbTest("GET /healthz is 200 while Postgres answers", async () => {
  const res = await api().request("GET", "/healthz", { token: null });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ok", database: "ok" });
});

dbTest("GET /healthz is 503 and other endpoints 503 (not 500) when Postgres is unreachable", async () => {
  // Port 1 on loopback: nothing listens there, so every connection is refused at once.
  const dead = postgres("postgres://nobody:nothing@127.0.0.1:1/none", {
    max: 1,
    connect_timeout: 2,
    onnotice: () => {},
  });
  const log = memoryLogger();
  const app = createApp({ sql: dead, readerSql: null, log });
  try {
    const health = await app.request("/healthz");
    assert.equal(health.status, 503);
    const body = await health.json();
    assert.equal(body.error.code, "unavailable");
    assert.match(body.error.message, /Postgres is unreachable/);
    assert.doesNotMatch(JSON.stringify(body), /127\.0\.0\.1|:1\b|ECONNREFUSED/, "anonymous callers learn no host or port");
    assert.ok(log.entries.some((e) => /ECONNREFUSED|127\.0\.0\.1/.test(JSON.stringify(e.fields))), "the reason is logged");
    const runs = await app.request("/v1/runs", { headers: { authorization: "Bearer rjt_x" } });
    assert.equal(runs.status, 503);
    assert.equal((await runs.json()).error.code, "unavailable");
    const sql = await app.request("/v1/sql", { method: "POST" });
    assert.ok(sql.status === 503 || sql.status === 401);
  } finally {
    await dead.end({ timeout: 1 });
  }
});

dbTest("GET /v1/workers lists registered workers with their current run", async () => {
  await api().sql`insert into workers (id, host, pid, backend, device, version, state)
    values ('w-1', 'gpu-box', 4242, 'tensorflow', 'GPU 0', '0.1.0', 'idle')`;
  const res = await api().request("GET", "/v1/workers", { token: api().tokens.read });
  assert.equal(res.status, 200);
  const { workers } = await res.json();
  const w = workers.find((x: { id: string }) => x.id === "w-1");
  assert.deepEqual({ ...w, startedAt: typeof w.startedAt, lastSeenAt: typeof w.lastSeenAt }, {
    id: "w-1",
    host: "gpu-box",
    pid: 4242,
    backend: "tensorflow",
    device: "GPU 0",
    version: "0.1.0",
    state: "idle",
    currentRunId: null,
    startedAt: "string",
    lastSeenAt: "string",
  });
  assert.equal((await api().request("GET", "/v1/workers", { token: null })).status, 401);
});

dbTest("GET /openapi.json is OpenAPI 3.1 covering every endpoint, with every $ref resolvable", async () => {
  const res = await api().request("GET", "/openapi.json", { token: null });
  assert.equal(res.status, 200);
  const doc = await res.json();
  assert.equal(doc.openapi, "3.1.0");
  const operations = Object.entries(doc.paths as Record<string, Record<string, { operationId: string }>>)
    .flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`)
    );
  for (
    const expected of [
      "POST /v1/runs createRun",
      "GET /v1/runs listRuns",
      "GET /v1/runs/{id} getRun",
      "GET /v1/runs/{id}/metrics getRunMetrics",
      "POST /v1/runs/{id}/cancel cancelRun",
      "POST /v1/runs/{id}/retry retryRun",
      "GET /v1/runs/{id}/model/model.json getRunModel",
      "GET /v1/runs/{id}/model/{shard} getRunModelShard",
      "POST /v1/sweeps createSweep",
      "GET /v1/sweeps/{id} getSweep",
      "GET /v1/workers listWorkers",
      "POST /v1/sql runSql",
      "GET /v1/report getReport",
      "POST /v1/tokens createToken",
      "GET /v1/tokens listTokens",
      "DELETE /v1/tokens/{id} revokeToken",
      "GET /healthz health",
      "GET /openapi.json openapi",
    ]
  ) {
    assert.ok(operations.includes(expected), expected);
  }
  assert.equal(
    new Set(operations.map((o) => o.split(" ")[2])).size,
    operations.length,
    "operationIds are unique",
  );
  const refs = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (k === "$ref" && typeof x === "string") refs.add(x);
        else walk(x);
      }
    }
  };
  walk(doc);
  for (const ref of refs) {
    assert.match(ref, /^#\/components\/schemas\//, ref);
    assert.ok(doc.components.schemas[ref.split("/").pop()!], `unresolved ${ref}`);
  }
  // The run spec is documented from the same zod schema the API validates with.
  const create = doc.paths["/v1/runs"].post;
  assert.equal(create.requestBody.content["application/json"].schema.$ref, "#/components/schemas/RunSpec");
  const spec = doc.components.schemas.RunSpec;
  assert.deepEqual(spec.required, ["schedule"]);
  assert.equal(spec.properties.batchSize.default, 64);
  assert.equal(spec.additionalProperties, false);
  assert.ok(create.parameters.some((p: { name: string }) => p.name === "Idempotency-Key"));
  const list = doc.paths["/v1/runs"].get.parameters.map((p: { name: string }) => p.name).sort();
  assert.deepEqual(list, ["cursor", "limit", "namePrefix", "sort", "state", "sweep", "tag"]);
  assert.equal(
    doc.paths["/v1/runs"].get.parameters.find((p: { name: string }) => p.name === "limit").schema.maximum,
    1000,
  );
  assert.deepEqual(doc.paths["/healthz"].get.security, []);
  assert.deepEqual(doc.paths["/v1/sql"].post.security, [{ bearer: ["read"] }]);
});

dbTest("GET /docs is a self-contained page: no script, style or font from another origin", async () => {
  const res = await api().request("GET", "/docs", { token: null });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/html/);
  assert.match(res.headers.get("content-security-policy")!, /default-src 'none'/);
  const html = await res.text();
  assert.ok(!/(src|href)\s*=\s*["']?(https?:)?\/\//i.test(html), "no external src/href");
  assert.ok(!/https?:\/\//i.test(html), "no absolute URL at all");
  assert.match(html, /fetch\("\/openapi\.json"\)/);
});

dbTest("unknown paths are 404 and wrong methods 405 with Allow, in the one error shape", async () => {
  const missing = await api().request("GET", "/v2/nothing");
  assert.equal(missing.status, 404);
  assert.deepEqual(Object.keys((await missing.json()).error).sort(), ["code", "message"]);
  const wrong = await api().request("PUT", `/v1/runs/${crypto.randomUUID()}`);
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET, HEAD");
  assert.equal((await wrong.json()).error.code, "method_not_allowed");
  // A trailing slash is another path (Hono matches strictly): 404, not a misleading 405.
  assert.equal((await api().request("GET", "/v1/runs/")).status, 404);
  assert.equal((await api().request("HEAD", "/healthz", { token: null })).status, 200);
  const patch = await api().request("PATCH", "/v1/sql");
  assert.equal(patch.status, 405);
  assert.equal(patch.headers.get("allow"), "POST");
});

dbTest(
  "every response carries a request id (the client's if it sent a sane one), and so does every log line",
  async () => {
    const { log } = api();
    const before = log.entries.length;
    for (const path of ["/healthz", "/v1/runs", "/nope"]) {
      const res = await api().request("GET", path);
      assert.match(res.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
    }
    const mine = await api().request("GET", "/v1/runs/not-a-uuid", {
      headers: { "x-request-id": "trace-42" },
    });
    assert.equal(mine.headers.get("x-request-id"), "trace-42");
    // A value that could forge log fields or headers is replaced, not echoed.
    const hostile = await api().request("GET", "/healthz", {
      headers: { "x-request-id": 'x","level":"error' },
    });
    assert.match(hostile.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
    const lines = log.entries.slice(before);
    assert.ok(lines.length >= 5);
    for (const line of lines) assert.ok(typeof line.fields.requestId === "string", JSON.stringify(line));
    assert.ok(lines.some((l) => l.fields.requestId === "trace-42" && l.fields.status === 404));
  },
);

dbTest("an unexpected error is a 500 without stack or message details; the log keeps them", async () => {
  const log = memoryLogger();
  const app = createApp({ sql: api().sql, readerSql: null, log });
  app.get("/boom", () => {
    throw new Error("secret detail at /srv/app/internal.ts:42");
  });
  const res = await app.request("/boom");
  assert.equal(res.status, 500);
  const text = await res.text();
  assert.ok(!text.includes("secret detail") && !text.includes("internal.ts") && !text.includes("at "), text);
  const body = JSON.parse(text);
  assert.equal(body.error.code, "internal");
  assert.match(body.error.message, new RegExp(res.headers.get("x-request-id")!));
  const logged = log.entries.find((e) => e.message === "unhandled error");
  assert.match(String(logged?.fields.stack), /secret detail/);
});
