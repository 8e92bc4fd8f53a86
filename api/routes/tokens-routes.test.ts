import assert from "node:assert/strict";
import { ensureAdminToken, hashApiToken } from "../../shared/api-tokens.ts";
import { scopeAllows } from "../auth.ts";
import { dbTest, SMALL_SPEC, useTestApi } from "../testing/test-api.ts";

const api = useTestApi();

dbTest("an admin creates a token (shown once), lists tokens without secrets, and revokes one", async () => {
  const res = await api().request("POST", "/v1/tokens", {
    token: api().tokens.admin,
    json: { name: "laptop", scopes: ["submit"] },
  });
  assert.equal(res.status, 201);
  const created = await res.json();
  assert.match(created.token, /^rjt_[A-Za-z0-9_-]{43}$/);
  assert.equal(created.prefix, created.token.slice(0, 10));
  assert.deepEqual(created.scopes, ["submit"]);
  // Stored as its SHA-256 only.
  const [row] = await api().sql`select token_hash from api_tokens where id = ${created.id}`;
  assert.equal(row!.token_hash, await hashApiToken(created.token));
  const stored = await api().sql`select * from api_tokens where id = ${created.id}`;
  assert.ok(!JSON.stringify(stored).includes(created.token));

  assert.equal(
    (await api().request("POST", "/v1/runs", { json: SMALL_SPEC, token: created.token })).status,
    201,
  );

  const list = await (await api().request("GET", "/v1/tokens")).json();
  const listed = list.tokens.find((t: { id: string }) => t.id === created.id);
  assert.ok(listed.lastUsedAt, "the token was used once");
  assert.deepEqual(Object.keys(listed).sort(), [
    "createdAt",
    "expiresAt",
    "id",
    "lastUsedAt",
    "name",
    "prefix",
    "revokedAt",
    "scopes",
  ]);
  assert.ok(!JSON.stringify(list).includes(created.token));
  assert.ok(!JSON.stringify(list).includes(row!.token_hash));

  const revoked = await api().request("DELETE", `/v1/tokens/${created.id}`);
  assert.equal(revoked.status, 200);
  assert.ok((await revoked.json()).revokedAt);
  const after = await api().request("GET", "/v1/runs", { token: created.token });
  assert.equal(after.status, 401);
  assert.match(after.headers.get("www-authenticate")!, /invalid_token/);
  assert.equal((await api().request("DELETE", `/v1/tokens/${crypto.randomUUID()}`)).status, 404);
});

dbTest("token endpoints need the admin scope; bad bodies are 422", async () => {
  for (const scope of ["read", "submit", "worker"] as const) {
    const res = await api().request("POST", "/v1/tokens", {
      token: api().tokens[scope],
      json: { name: "x", scopes: ["admin"] },
    });
    assert.equal(res.status, 403, scope);
    assert.equal((await api().request("GET", "/v1/tokens", { token: api().tokens[scope] })).status, 403);
  }
  for (
    const json of [
      { name: "x", scopes: [] },
      { name: "x", scopes: ["root"] },
      { name: "", scopes: ["read"] },
      {
        name: "x",
        scopes: ["read", "read"],
      },
    ]
  ) {
    assert.equal((await api().request("POST", "/v1/tokens", { json })).status, 422, JSON.stringify(json));
  }
});

dbTest("an expired token is 401", async () => {
  const res = await api().request("POST", "/v1/tokens", {
    json: { name: "short", scopes: ["read"], expiresAt: new Date(Date.now() + 60_000).toISOString() },
  });
  const created = await res.json();
  assert.equal((await api().request("GET", "/v1/runs", { token: created.token })).status, 200);
  await api().sql`update api_tokens set expires_at = now() - interval '1 s' where id = ${created.id}`;
  const expired = await api().request("GET", "/v1/runs", { token: created.token });
  assert.equal(expired.status, 401);
});

dbTest(
  "no token, a malformed header or an unknown token is 401 with WWW-Authenticate; healthz and openapi are public",
  async () => {
    for (
      const headers of [{}, { authorization: "" }, { authorization: "Basic abc" }, {
        authorization: "Bearer",
      }, {
        authorization: "Bearer rjt_unknown",
      }]
    ) {
      const res = await api().request("GET", "/v1/runs", { token: null, headers });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.match(res.headers.get("www-authenticate")!, /^Bearer/);
      assert.equal((await res.json()).error.code, "unauthorized");
    }
    assert.equal(
      (await api().request("GET", "/v1/runs", {
        token: null,
        headers: { authorization: `bearer ${api().tokens.read}` },
      })).status,
      200,
    );
    assert.equal((await api().request("GET", "/healthz", { token: null })).status, 200);
    assert.equal((await api().request("GET", "/openapi.json", { token: null })).status, 200);
  },
);

dbTest("tokens never appear in log lines", async () => {
  const { log, tokens } = api();
  await api().request("GET", "/v1/runs", { token: tokens.read });
  await api().request("GET", "/v1/runs", { token: "rjt_wrong-token-that-must-not-be-logged" });
  await api().request("POST", "/v1/runs", { json: SMALL_SPEC, token: tokens.read });
  const created =
    await (await api().request("POST", "/v1/tokens", { json: { name: "logged?", scopes: ["read"] } })).json();
  const text = JSON.stringify(log.entries);
  for (const t of [...Object.values(tokens), created.token, "rjt_wrong-token-that-must-not-be-logged"]) {
    assert.ok(!text.includes(t), "a token reached the log");
  }
  assert.ok(log.entries.some((e) => e.fields.tokenId !== undefined), "log lines name the token by id");
});

dbTest(
  "ensureAdminToken() seeds ADMIN_TOKEN once, and creates a first admin token only when none is usable",
  async () => {
    const { sql } = api();
    const fromEnv = await ensureAdminToken(sql, "rjt_from-env-admin-token");
    assert.deepEqual(fromEnv, { created: null, fromEnv: true });
    await ensureAdminToken(sql, "rjt_from-env-admin-token");
    const [n] = await sql<
      { n: number }[]
    >`select count(*)::int as n from api_tokens where name = 'ADMIN_TOKEN'`;
    assert.equal(n!.n, 1);
    assert.equal(
      (await api().request("GET", "/v1/tokens", { token: "rjt_from-env-admin-token" })).status,
      200,
    );
    // Admin tokens exist (the test's and ADMIN_TOKEN's): nothing new is created.
    assert.equal((await ensureAdminToken(sql, undefined)).created, null);
    await sql`update api_tokens set revoked_at = now() where 'admin' = any(scopes)`;
    const first = await ensureAdminToken(sql, undefined);
    assert.ok(first.created !== null);
    assert.equal((await api().request("GET", "/v1/tokens", { token: first.created.token })).status, 200);
    assert.equal((await ensureAdminToken(sql, undefined)).created, null);
  },
);

Deno.test("scopeAllows(): admin may do everything, submit also reads, worker only worker", () => {
  assert.ok(scopeAllows(["admin"], "worker"));
  assert.ok(scopeAllows(["admin"], "submit"));
  assert.ok(scopeAllows(["submit"], "read"));
  assert.ok(!scopeAllows(["submit"], "admin"));
  assert.ok(!scopeAllows(["read"], "submit"));
  assert.ok(!scopeAllows(["worker"], "read"));
  assert.ok(scopeAllows(["read", "worker"], "read"));
});
