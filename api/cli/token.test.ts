import assert from "node:assert/strict";
import { hashApiToken } from "../../shared/api-tokens.ts";
import { createTestDatabase } from "../../test/helpers/test-database.ts";
import { parseTokenArgs, tokenDatabaseUrl, UsageError } from "./token.ts";

Deno.test("parseTokenArgs() reads create with scopes, a name and an expiry", () => {
  assert.deepEqual(parseTokenArgs(["create", "--scope", "submit"]), {
    command: "create",
    scopes: ["submit"],
    name: "submit token",
    expiresInDays: null,
  });
  assert.deepEqual(
    parseTokenArgs([
      "create",
      "--scope",
      "read",
      "--scope",
      "worker",
      "--scope",
      "read",
      "--name",
      "gpu-1",
      "--expires-in-days",
      "30",
    ]),
    {
      command: "create",
      scopes: ["read", "worker"],
      name: "gpu-1",
      expiresInDays: 30,
    },
  );
  assert.deepEqual(parseTokenArgs(["list"]), { command: "list" });
  const id = crypto.randomUUID();
  assert.deepEqual(parseTokenArgs(["revoke", id]), { command: "revoke", id });
});

Deno.test("parseTokenArgs() refuses what it cannot do, with a message and the usage", () => {
  const cases: [string[], RegExp][] = [
    [[], /usage: npm run token/],
    [["create"], /at least one --scope/],
    [["create", "--scope", "root"], /unknown scope 'root'/],
    [
      ["create", "--scope", "read", "--expires-in-days", "0"],
      /--expires-in-days must be a number of days > 0, found .0./,
    ],
    [["create", "--scope", "read", "--expires-in-days=soon"], /found .soon./],
    [["create", "--scope", "read", "--colour", "red"], /Unknown option '--colour'/],
    [["revoke"], /usage/],
    [["revoke", "abc"], /a UUID\), found 'abc'/],
    [["delete", "x"], /usage/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(
      () => parseTokenArgs(argv),
      (e: unknown) => e instanceof UsageError && message.test(e.message),
      argv.join(" "),
    );
  }
});

Deno.test("tokenDatabaseUrl() uses DATABASE_URL, or else npm start's embedded Postgres with the secret in DATA_DIR", async () => {
  assert.equal(await tokenDatabaseUrl({ DATABASE_URL: "postgres://u:p@db:5432/x" }), "postgres://u:p@db:5432/x");
  const dataDir = await Deno.makeTempDir();
  try {
    await assert.rejects(tokenDatabaseUrl({ PG_PORT: "6000", DATA_DIR: dataDir }), /no Postgres password in .*postgres-password/);
    await Deno.writeTextFile(`${dataDir}/postgres-password`, "c0ffee\n");
    assert.equal(
      await tokenDatabaseUrl({ PG_PORT: "6000", DATA_DIR: dataDir }),
      "postgres://postgres:c0ffee@127.0.0.1:6000/resnet_jobs",
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test({
  name: "npm run token -- create / list / revoke work against a real database",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const db = await createTestDatabase();
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "api/cli/token.ts", ...args],
        cwd: new URL("../..", import.meta.url).pathname,
        env: { DATABASE_URL: db.url },
      }).output();
      return {
        code: out.code,
        stdout: new TextDecoder().decode(out.stdout),
        stderr: new TextDecoder().decode(out.stderr),
      };
    };
    try {
      const created = await run("create", "--scope", "submit", "--name", "ci");
      assert.equal(created.code, 0, created.stderr);
      const token = created.stdout.trim();
      assert.match(token, /^rjt_[A-Za-z0-9_-]{43}$/);
      assert.match(created.stderr, /scopes submit\)\. It is shown only this once/);
      const [row] = await db
        .sql`select id, name, scopes from api_tokens where token_hash = ${await hashApiToken(token)}`;
      assert.deepEqual({ name: row!.name, scopes: row!.scopes }, { name: "ci", scopes: ["submit"] });

      const listed = await run("list");
      assert.match(listed.stdout, new RegExp(`${row!.id}  ${token.slice(0, 10)}…  active   submit\\s+ci`));
      assert.ok(!listed.stdout.includes(token));

      assert.equal((await run("revoke", row!.id)).code, 0);
      assert.match((await run("list")).stdout, /revoked/);
      const missing = await run("revoke", crypto.randomUUID());
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no token with id/);
      const usage = await run("create", "--scope", "root");
      assert.equal(usage.code, 2);
    } finally {
      await db.drop();
    }
  },
});
