import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dbTest, insertEpochs, SMALL_SPEC, useTestApi } from "../testing/test-api.ts";

const api = useTestApi();

async function sql(statement: string, headers: Record<string, string> = {}) {
  const res = await api().request("POST", "/v1/sql", {
    json: { sql: statement },
    token: api().tokens.read,
    headers,
  });
  return {
    status: res.status,
    body: res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text(),
    res,
  };
}

async function refused(statement: string, message: RegExp) {
  const { status, body } = await sql(statement);
  assert.equal(status, 400, `${statement}: ${JSON.stringify(body)}`);
  assert.equal(body.error.code, "sql_error", statement);
  assert.match(body.error.message, message, statement);
}

/** Everything a statement could have changed: rows of every table and the schema's objects. */
async function fingerprint(): Promise<string> {
  const s = api().sql;
  const [runs] =
    await s`select count(*)::int as n, coalesce(sum(hashtext(r::text)), 0)::text as h from runs r`;
  const [tokens] =
    await s`select count(*)::int as n, coalesce(sum(hashtext(t::text)), 0)::text as h from api_tokens t`;
  const [metrics] = await s`select count(*)::int as n from epoch_metrics`;
  const [events] = await s`select count(*)::int as n from run_events`;
  const objects = await s`select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where nspname = 'public' order by relname`;
  return JSON.stringify({ runs, tokens, metrics, events, objects: objects.map((o) => o.relname) });
}

let runId = "";
Deno.test.beforeAll(async () => {
  const res = await api().request("POST", "/v1/runs", { json: { ...SMALL_SPEC, name: "sql run" } });
  runId = (await res.json()).id;
  await insertEpochs(api().sql, runId, [
    { epoch: 1, loss: 1.0, acc: 0.5, valLoss: 1.1, valAcc: 0.45 },
    { epoch: 2, loss: 0.7, acc: 0.7, valLoss: 0.8, valAcc: 0.69 },
  ]);
});

dbTest("POST /v1/sql answers { columns, rows } over the three documented views", async () => {
  const { status, body } = await sql(
    "select r.name, r.epochs, s.best_epoch, s.best_val_acc, count(m.epoch) as n from runs_view r " +
      "join run_summary s on s.run_id = r.id join epoch_metrics_view m on m.run_id = r.id group by 1, 2, 3, 4",
  );
  assert.equal(status, 200, JSON.stringify(body));
  assert.deepEqual(body, {
    columns: [
      { name: "name", type: "text" },
      { name: "epochs", type: "integer" },
      { name: "best_epoch", type: "integer" },
      { name: "best_val_acc", type: "double precision" },
      { name: "n", type: "bigint" },
    ],
    rows: [["sql run", 3, 2, 0.69, 2]],
    rowCount: 1,
    truncated: false,
  });
});

dbTest(
  "POST /v1/sql keeps duplicate column names apart and returns zero-row results with their columns",
  async () => {
    const dup = await sql("select 1 as a, 2 as a");
    assert.deepEqual(dup.body.rows, [[1, 2]]);
    assert.deepEqual(dup.body.columns.map((c: { name: string }) => c.name), ["a", "a"]);
    const none = await sql("select name from runs_view where false");
    assert.deepEqual(none.body, {
      columns: [{ name: "name", type: "text" }],
      rows: [],
      rowCount: 0,
      truncated: false,
    });
  },
);

dbTest("POST /v1/sql with Accept: text/csv answers CSV", async () => {
  const { status, body, res } = await sql("select name, epochs from runs_view where name = 'sql run'", {
    accept: "text/csv",
  });
  assert.equal(status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/csv/);
  assert.equal(res.headers.get("x-truncated"), "false");
  assert.equal(body, "name,epochs\r\nsql run,3\r\n");
});

dbTest("POST /v1/sql caps results at 10,000 rows and says truncated", async () => {
  const over = await sql("select g from generate_series(1, 25000) g");
  assert.equal(over.body.rowCount, 10_000);
  assert.equal(over.body.rows.length, 10_000);
  assert.equal(over.body.truncated, true);
  assert.deepEqual(over.body.rows.at(-1), [10_000]);
  const exact = await sql("select g from generate_series(1, 10000) g");
  assert.equal(exact.body.truncated, false);
  assert.equal(exact.body.rowCount, 10_000);
});

dbTest("POST /v1/sql cuts a result of a few huge rows off at about 32 MiB, truncated", async () => {
  const { status, body } = await sql("select g, repeat('x', 4000000) as big from generate_series(1, 40) g");
  assert.equal(status, 200);
  assert.equal(body.truncated, true);
  assert.ok(body.rowCount >= 7 && body.rowCount <= 8, `rows ${body.rowCount}`);
  assert.deepEqual(
    body.rows.map((r: unknown[]) => r[0]),
    Array.from({ length: body.rowCount }, (_, i) => i + 1),
  );
});

dbTest("POST /v1/sql refuses writes and DDL, and leaves the data unchanged", async () => {
  const before = await fingerprint();
  await refused(`update runs set state = 'failed'`, /permission denied for table runs|read-only transaction/);
  await refused(`delete from runs_view`, /read-only transaction|permission denied/);
  await refused(
    `insert into api_tokens (name, token_hash, prefix, scopes) values ('x', 'y', 'z', '{admin}')`,
    /read-only|permission denied/,
  );
  await refused(`create table pwned (a int)`, /read-only transaction|permission denied/);
  await refused(`create temp table pwned (a int)`, /read-only transaction|permission denied/);
  await refused(`drop view run_summary`, /read-only transaction|must be owner/);
  await refused(`alter table runs add column x int`, /read-only transaction|must be owner/);
  await refused(`truncate runs`, /read-only transaction|permission denied/);
  await refused(`grant select on api_tokens to public`, /read-only transaction|permission denied/);
  await refused(`lock table runs in access exclusive mode`, /permission denied|read-only/);
  await refused(
    `with d as (delete from runs returning 1) select * from d`,
    /read-only transaction|permission denied/,
  );
  await refused(`select nextval('x')`, /does not exist|permission denied/);
  assert.equal(await fingerprint(), before);
});

dbTest("POST /v1/sql refuses SET ROLE, SET SESSION AUTHORIZATION and set_config escapes", async () => {
  const before = await fingerprint();
  await refused(`set role postgres`, /permission denied to set role/);
  await refused(`set session authorization postgres`, /permission denied to set session authorization/);
  await refused(`select set_config('role', 'postgres', false)`, /permission denied to set role/);
  await refused(
    `select set_config('session_authorization', 'postgres', false)`,
    /permission denied|cannot set parameter/,
  );
  await refused(`set transaction read write`, /read-write mode must be set before any query/);
  await refused(
    `select set_config('transaction_read_only', 'off', true)`,
    /read-write mode must be set before any query/,
  );
  // A setting changed for the "session" dies with the rolled-back transaction: the next statement on the
  // same pool is read-only and timed out as before.
  for (let i = 0; i < 3; i++) {
    const changed = await sql(`select set_config('default_transaction_read_only', 'off', false),
      set_config('statement_timeout', '0', false)`);
    assert.equal(changed.status, 200);
  }
  const settings = await sql(
    `select current_setting('transaction_read_only'), current_setting('statement_timeout')`,
  );
  assert.deepEqual(settings.body.rows, [["on", "5s"]]);
  const who = await sql(`select current_user, session_user`);
  assert.deepEqual(who.body.rows, [["resnet_sql_reader", "resnet_sql_reader"]]);
  assert.equal(await fingerprint(), before);
});

dbTest("POST /v1/sql refuses COPY … PROGRAM, COPY to files and every file-reading function", async () => {
  const marker = `/tmp/resnet-jobs-pwned-${crypto.randomUUID()}`;
  await refused(
    `copy (select 1) to program 'touch ${marker}'`,
    /permission denied|must be superuser|pg_execute_server_program|read-only/,
  );
  await refused(
    `copy runs_view to '${marker}'`,
    /permission denied|must be superuser|pg_write_server_files|read-only/,
  );
  await refused(`copy runs from '/etc/passwd'`, /permission denied|read-only|must be superuser/);
  assert.equal(existsSync(marker), false);
  await refused(`select pg_read_file('/etc/passwd')`, /permission denied for function pg_read_file/);
  await refused(
    `select pg_read_binary_file('/etc/passwd')`,
    /permission denied for function pg_read_binary_file/,
  );
  await refused(`select pg_ls_dir('.')`, /permission denied for function pg_ls_dir/);
  await refused(`select pg_stat_file('postgresql.conf')`, /permission denied for function pg_stat_file/);
  await refused(`select lo_import('/etc/passwd')`, /permission denied for function lo_import|read-only/);
  await refused(
    `select current_setting('data_directory')`,
    /permission denied|must be superuser|pg_read_all_settings/,
  );
});

dbTest("POST /v1/sql refuses multi-statement tricks: only one statement ever runs", async () => {
  const before = await fingerprint();
  await refused(`select 1; delete from runs`, /cannot insert multiple commands into a prepared statement/);
  await refused(`select 1; select 2`, /cannot insert multiple commands/);
  await refused(`commit; set role postgres`, /cannot insert multiple commands/);
  await refused(`select 1 /* ; */ ; drop table runs --`, /cannot insert multiple commands/);
  await refused(`do $$ begin execute 'delete from runs'; end $$`, /read-only transaction|permission denied/);
  // A statement that ends the transaction itself cannot be followed by anything.
  const commit = await sql(`commit`);
  assert.equal(commit.status, 200);
  assert.equal(await fingerprint(), before);
});

dbTest(
  "POST /v1/sql cannot reach the token table, the runs table, other schemas or password hashes",
  async () => {
    await refused(`select * from api_tokens`, /permission denied for table api_tokens/);
    await refused(`select token_hash from public.api_tokens`, /permission denied for table api_tokens/);
    await refused(`select lease_token from runs`, /permission denied for table runs/);
    await refused(`select * from epoch_metrics`, /permission denied for table epoch_metrics/);
    await refused(`select * from workers`, /permission denied for table workers/);
    await refused(`select * from drizzle.__drizzle_migrations`, /permission denied for schema drizzle/);
    await refused(`select rolpassword from pg_authid`, /permission denied for table pg_authid/);
    await refused(`select passwd from pg_shadow`, /permission denied for view pg_shadow/);
    await refused(
      `select query_to_xml('select * from api_tokens', true, true, '')`,
      /permission denied for table api_tokens/,
    );
  },
);

dbTest(
  "POST /v1/sql leaves nothing behind on its connection: no prepared statements, advisory locks or notifications",
  async () => {
    const heard: string[] = [];
    const listener = await api().sql.listen("run_cancel", (p) => heard.push(p));
    try {
      for (let i = 0; i < 4; i++) {
        assert.equal((await sql(`prepare sneaky${i} as select 1`)).status, 200);
        assert.equal((await sql(`select pg_advisory_lock(7370000001)`)).status, 200);
        await sql(`select pg_notify('run_cancel', 'x')`);
        await sql(`notify run_cancel, 'y'`);
      }
      await refused(`execute sneaky0`, /prepared statement "sneaky0" does not exist/);
      const [locks] = await api().sql<
        { n: number }[]
      >`select count(*)::int as n from pg_locks where locktype = 'advisory'`;
      assert.equal(locks!.n, 0);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(heard, []);
    } finally {
      await listener.unlisten();
    }
  },
);

dbTest(
  "POST /v1/sql cuts pg_sleep(60) off at the 5 s statement timeout, with Postgres's message",
  async () => {
    const started = performance.now();
    await refused(`select pg_sleep(60)`, /canceling statement due to statement timeout/);
    const seconds = (performance.now() - started) / 1000;
    assert.ok(seconds >= 4.5 && seconds < 8, `took ${seconds} s`);
    // The pool is still usable afterwards.
    assert.equal((await sql(`select 1`)).status, 200);
  },
);

dbTest(
  "POST /v1/sql: a syntax error is 400 with Postgres's message; a missing or empty statement is 422",
  async () => {
    await refused(`selec 1`, /syntax error at or near "selec"/);
    await refused(`select * from no_such_view`, /relation "no_such_view" does not exist/);
    const missing = await api().request("POST", "/v1/sql", { json: {} });
    assert.equal(missing.status, 422);
    const empty = await api().request("POST", "/v1/sql", { json: { sql: "" } });
    assert.equal(empty.status, 422);
    const extra = await api().request("POST", "/v1/sql", { json: { sql: "select 1", params: [] } });
    assert.equal(extra.status, 422);
  },
);

dbTest("POST /v1/sql needs the read scope (worker tokens are refused)", async () => {
  const res = await api().request("POST", "/v1/sql", {
    json: { sql: "select 1" },
    token: api().tokens.worker,
  });
  assert.equal(res.status, 403);
  const none = await api().request("POST", "/v1/sql", { json: { sql: "select 1" }, token: null });
  assert.equal(none.status, 401);
});
