// The API as it runs in production: `api/main.ts` as its own process, serving over a real Deno.serve
// socket against a real Postgres (a database cloned for this file). Requests go over TCP with fetch.
import assert from "node:assert/strict";
import { type ApiProcess, freePort, startApiProcess } from "./helpers/api-process.deno.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ADMIN = `rjt_integration-${crypto.randomUUID()}`;
const SPEC = {
  schedule: "[1e-3, 0]lin[1e-3, 2]cos[1e-5, 3]",
  data: { dataset: "synthetic", trainSize: 256, imageSize: 8 },
  model: { depth: 11 },
};

let db: TestDatabase;
let server: ApiProcess;

const startApi = (databaseUrl: string) => startApiProcess({ databaseUrl, env: { ADMIN_TOKEN: ADMIN } });

function api(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? ADMIN : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  return fetch(`${server.url}${path}`, { ...init, headers });
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  api(path, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  });

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test.beforeAll(async () => {
  db = await createTestDatabase();
  server = await startApi(db.url);
});

Deno.test.afterAll(async () => {
  try {
    server.child.kill("SIGKILL");
  } catch { /* already gone */ }
  await server.exited;
  await db.drop();
});

Deno.test({
  ...opts,
  name: "api/main.ts serves healthz, OpenAPI and the docs page on HOST:PORT, with ADMIN_TOKEN seeded",
  fn: async () => {
    const health = await api("/healthz", { token: null });
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok", database: "ok" });
    const doc = await (await api("/openapi.json", { token: null })).json();
    assert.equal(doc.openapi, "3.1.0");
    const docs = await api("/docs", { token: null });
    assert.match(await docs.text(), /<title>/);
    const tokens = await api("/v1/tokens");
    assert.equal(tokens.status, 200, "ADMIN_TOKEN is an admin token");
  },
});

Deno.test({
  ...opts,
  name: "20 concurrent identical POSTs over HTTP with one Idempotency-Key create one run",
  fn: async () => {
    const key = crypto.randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => post("/v1/runs", { ...SPEC, name: key }, { "idempotency-key": key })),
    );
    const bodies = await Promise.all(responses.map((r) => r.json()));
    assert.deepEqual(responses.map((r) => r.status).filter((s) => s === 201), [201]);
    assert.equal(responses.filter((r) => r.status === 200).length, 19);
    assert.equal(new Set(bodies.map((b) => b.id)).size, 1);
    const [row] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from runs where idempotency_key = ${key}`;
    assert.equal(row!.n, 1);
  },
});

Deno.test({
  ...opts,
  name: "a streamed body over 1 MiB without Content-Length is cut off with 413",
  fn: async () => {
    const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > 2 * 1024 * 1024) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const res = await api("/v1/runs", {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).error.code, "payload_too_large");
  },
});

Deno.test({
  ...opts,
  name: "POST /v1/sql over HTTP runs as the reader role (JSON and CSV), and refuses the token table",
  fn: async () => {
    await post("/v1/runs", { ...SPEC, name: "for sql" });
    const res = await post("/v1/sql", {
      sql: "select name, current_user as who from runs_view where name = 'for sql'",
    });
    assert.deepEqual((await res.json()).rows, [["for sql", "resnet_sql_reader"]]);
    const csv = await post("/v1/sql", { sql: "select 1 as one" }, { accept: "text/csv" });
    assert.equal(await csv.text(), "one\r\n1\r\n");
    const denied = await post("/v1/sql", { sql: "select * from api_tokens" });
    assert.equal(denied.status, 400);
  },
});

Deno.test({
  ...opts,
  name: "log lines are JSON with a request id and never contain a token",
  fn: async () => {
    await api("/v1/runs?limit=1", { token: "rjt_not-a-real-token-but-secret" });
    await api("/v1/runs?limit=1");
    const lines = server.output().trim().split("\n").filter((l) => l.startsWith("{"));
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "request");
    assert.ok(requests.length >= 10);
    for (const r of requests) assert.equal(typeof r.requestId, "string");
    assert.ok(!server.output().includes(ADMIN));
    assert.ok(!server.output().includes("rjt_not-a-real-token-but-secret"));
  },
});

Deno.test({
  ...opts,
  name: "SIGTERM lets a request in flight finish, then the process exits 0",
  fn: async () => {
    const inflight = post("/v1/sql", { sql: "select pg_sleep(1) is null as slept" });
    await new Promise((r) => setTimeout(r, 300));
    server.child.kill("SIGTERM");
    const res = await inflight;
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).rows, [[false]]);
    const status = await server.exited;
    assert.equal(status.code, 0, server.output());
    assert.match(server.output(), /"msg":"stopping"/);
  },
});

Deno.test({
  ...opts,
  name: "with --stop-with-parent, api/main.ts stops by itself when its parent is killed with -9",
  fn: async () => {
    const port = freePort();
    // A shell stands in for the supervisor: it starts the API, prints its pid, and waits.
    const shell = new Deno.Command("sh", {
      args: ["-c", `"${Deno.execPath()}" run -A api/main.ts --stop-with-parent & echo $!; wait`],
      cwd: ROOT,
      env: { DATABASE_URL: db.url, HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "warn" },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = shell.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const pid = Number((await reader.read()).value?.trim());
    assert.ok(pid > 0);
    const alive = () => {
      try {
        return !Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.startsWith("Z");
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 200; i++) {
      if (
        await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.body?.cancel().then(() => true),
          () => false,
        )
      ) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(alive(), "the API runs");
    shell.kill("SIGKILL");
    await shell.status;
    reader.releaseLock();
    await shell.stdout.cancel().catch(() => {});
    const started = Date.now();
    while (alive() && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(), false, "the orphaned API should have stopped");
  },
});
