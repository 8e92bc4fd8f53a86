// The embedded cluster's superuser (issue 13, finding 1): a random per-cluster secret in a 0600 file,
// never the public password `postgres`; older clusters rotated on their first start; and, as root, a
// second local user can neither read the secret, nor log in with the old password, nor reach the socket.
import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import postgres from "postgres";
import { startEmbeddedPostgres } from "../service/embedded-postgres.ts";
import { postgresSecretPath, readPostgresSecret } from "../shared/postgres-secret.ts";
import { freePort } from "./helpers/free-port.ts";
import { createLocalUser } from "./helpers/local-user.ts";
import { removeDataDir } from "./helpers/remove-data-dir.ts";

const dirs: string[] = [];
after(async () => {
  // removeDataDir: as root the cluster lives under /var/lib/resnet-jobs behind DATA_DIR/postgres.
  for (const d of dirs) await removeDataDir(d);
});

/** Logs in as `postgres` with `password`; the SQLSTATE of the refusal, or "ok". */
async function tryLogin(port: number, password: string): Promise<string> {
  const sql = postgres(`postgres://postgres:${password}@127.0.0.1:${port}/postgres`, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await sql`select 1`;
    return "ok";
  } catch (e) {
    return String((e as { code?: string }).code);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

test("a new cluster's superuser password is a random secret kept 0600 in DATA_DIR; the public one is refused", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "pg-secret-"));
  dirs.push(dataDir);
  const port = await freePort();
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dataDir, "postgres"), port });
  try {
    const file = postgresSecretPath(dataDir);
    const secret = await readPostgresSecret(file);
    assert.match(secret ?? "", /^[0-9a-f]{64}$/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.ok(pg.url.includes(secret!), "the URL handed to the service carries the secret");
    assert.equal(await tryLogin(port, secret!), "ok");
    assert.equal(await tryLogin(port, "postgres"), "28P01", "the README's old password must not log in");

  } finally {
    await pg.stop();
  }
});

const other = createLocalUser();
after(() => {
  if (typeof other !== "string") other.remove();
});

test("another local user can neither read the secret nor reach the unix socket", { skip: typeof other === "string" ? other : false }, async () => {
  if (typeof other === "string") return;
  const dataDir = await mkdtemp(path.join(tmpdir(), "pg-secret-"));
  dirs.push(dataDir);
  const port = await freePort();
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dataDir, "postgres"), port });
  try {
    const read = other.node(`require("fs").readFileSync(process.argv[1])`, [postgresSecretPath(dataDir)]);
    assert.notEqual(read.status, 0, "another local user must not read the secret");
    assert.match(read.stderr, /EACCES/);
    const socket = other.node(
      `const s = require("net").connect(process.argv[1]);` +
        `s.on("connect", () => { console.log("connected"); process.exit(0); });` +
        `s.on("error", (e) => { console.log(e.code); process.exit(3); });`,
      [`/tmp/.s.PGSQL.${port}`],
    );
    assert.equal(socket.stdout.trim(), "EACCES", "another local user must not reach the unix socket");
  } finally {
    await pg.stop();
  }
});

test("an older cluster still on the public password gets a random secret on its first start", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "pg-secret-"));
  dirs.push(dataDir);
  const port = await freePort();
  const clusterDir = path.join(dataDir, "postgres");
  const file = postgresSecretPath(dataDir);
  // Make the cluster as the code before this change left it: superuser password `postgres`, no file.
  const first = await startEmbeddedPostgres({ dataDir: clusterDir, port });
  const admin = postgres(first.url, { max: 1, onnotice: () => {} });
  await admin`alter role postgres with password 'postgres'`;
  await admin`create table kept (x int)`;
  await admin.end();
  await first.stop();
  await rm(file);

  const lines: string[] = [];
  const second = await startEmbeddedPostgres({ dataDir: clusterDir, port, log: (l) => lines.push(l) });
  try {
    const secret = await readPostgresSecret(file);
    assert.match(secret ?? "", /^[0-9a-f]{64}$/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.ok(lines.some((l) => /rotated the public superuser password/.test(l)), lines.join("\n"));
    assert.equal(await tryLogin(port, "postgres"), "28P01", "the old password must stop working");
    const sql = postgres(second.url, { max: 1, onnotice: () => {} });
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from kept`;
    assert.equal(row?.n, 0, "the cluster's data is kept");
    await sql.end();
  } finally {
    await second.stop();
  }
});
