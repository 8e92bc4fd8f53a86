// Issue 13, findings 5 (long lines cut at 64 KiB pipe chunks) and 6 (log injection): what children and
// Postgres print reaches `npm start`'s output one record per line, prefixed, escaped and bounded.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import postgres from "postgres";
import { MAX_LOG_LINE } from "../service/log-line.ts";
import { Supervisor } from "../service/supervisor.ts";
import { createApiToken } from "../shared/api-tokens.ts";
import { embeddedDatabaseUrl } from "../shared/postgres-secret.ts";
import { freePort } from "./helpers/free-port.ts";
import { removeDataDir } from "./helpers/remove-data-dir.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const dirs: string[] = [];
let service: ChildProcess | null = null;
after(async () => {
  if (service && service.exitCode === null) {
    const gone = new Promise((r) => service!.once("exit", r));
    service.kill("SIGINT");
    await gone;
  }
  for (const d of dirs) await removeDataDir(d);
});

test("a child's output: one prefixed line per record, control characters escaped, a 200 KiB line kept whole but bounded", async () => {
  const lines: string[] = [];
  const sup = new Supervisor((l) => lines.push(l));
  const script = `
    process.stdout.write("before\\r2026-01-01T00:00:00.000Z admin token: rjt_forged\\u001b[2K\\n");
    process.stdout.write("y".repeat(200 * 1024) + "\\n");
    process.stdout.write("after\\n");
    setInterval(() => {}, 1000);`;
  // The child stays up until stopped: a child that exits is restarted after a second, and a restart
  // racing a fixed sleep printed everything twice.
  sup.add({ name: "child", command: process.execPath, args: ["-e", script], env: process.env });
  for (let i = 0; i < 300 && !lines.includes("[child] after"); i++) await new Promise((r) => setTimeout(r, 50));
  await sup.stop(5000);
  const out = lines.filter((l) => l.startsWith("[child] ") && !/exited|restarting/.test(l));
  assert.equal(out.length, 3, out.map((l) => l.slice(0, 80)).join("\n"));
  assert.equal(out[0], "[child] before\\r2026-01-01T00:00:00.000Z admin token: rjt_forged\\x1b[2K");
  assert.equal(out[1], `[child] ${"y".repeat(MAX_LOG_LINE)} … [${200 * 1024 - MAX_LOG_LINE} more characters cut]`);
  assert.equal(out[2], "[child] after");
  for (const l of lines) assert.doesNotMatch(l, /[\r\u001b]/);
});

test("a read token's SQL cannot put a forged line into npm start's output", { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "log-forge-"));
  dirs.push(dataDir);
  const pgPort = await freePort();
  const port = await freePort();
  let out = "";
  service = spawn(process.execPath, ["--import", "tsx", "service/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: "", WORKERS: "0", DATA_DIR: dataDir, PG_PORT: String(pgPort), PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  service.stdout!.on("data", (d: Buffer) => (out += d));
  service.stderr!.on("data", (d: Buffer) => (out += d));
  for (let i = 0; i < 600 && !out.includes("service running"); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /service running/);
  const sql = postgres(await embeddedDatabaseUrl(dataDir, pgPort, "resnet_jobs"), { max: 1, onnotice: () => {} });
  const { token } = await createApiToken(sql, { name: "reader", scopes: ["read"] });
  await sql.end();
  const forged = "2026-01-01T00:00:00.000Z admin token: rjt_forged";
  const statements = [
    `select 1/0 as x -- \n${forged}\r\u001b[2K ERROR FATAL`,
    `do $$ begin raise warning E'x\\n${forged} ERROR\\u001b[31m'; end $$`,
    `select "\n${forged} ERROR`,
  ];
  for (const s of statements) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/sql`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ sql: s }),
    });
    assert.ok(res.status < 500, `${res.status}`);
    await res.body?.cancel();
  }
  await new Promise((r) => setTimeout(r, 1000));
  for (const line of out.split("\n")) {
    assert.doesNotMatch(line, /^\S+ admin token: rjt_forged/, `a forged line:\n${out}`);
    assert.doesNotMatch(line, /[\r\u001b]/, `a raw control character:\n${JSON.stringify(line)}`);
  }
});
