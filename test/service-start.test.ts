// `npm start` as a user runs it: a real process, a real embedded Postgres, Ctrl-C (SIGINT).
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import postgres from "postgres";
import { embeddedDatabaseUrl } from "../shared/postgres-secret.ts";
import { freePort } from "./helpers/free-port.ts";
import { processTree } from "./helpers/process-tree.ts";
import { removeDataDir } from "./helpers/remove-data-dir.ts";
import { eventually } from "./helpers/worker-process.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDataDir(d);
});

function startService(env: Record<string, string>): { child: ChildProcess; ready: Promise<string> } {
  const child = spawn(process.execPath, ["--import", "tsx", "service/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: "", WORKERS: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes("service running")) resolve(out);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`service exited (${code}) before it was ready:\n${out}`)));
  });
  return { child, ready };
}

function postgresProcessesFor(dataDir: string): string[] {
  // As root in a private folder the cluster lives elsewhere and DATA_DIR/postgres links to it.
  const cluster = realpathSync(path.join(dataDir, "postgres"));
  const ps = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return ps.split("\n").filter((l) => l.includes(cluster) && /postgres/.test(l));
}

async function stopWithSigint(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGINT");
  return await exited;
}

test("npm start brings up Postgres, migrates it, stops it on Ctrl-C, and reuses its data next time", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "resnet-jobs-start-"));
  dirs.push(dataDir);
  const port = await freePort();
  const env = { DATA_DIR: dataDir, PG_PORT: String(port), PORT: String(await freePort()) };

  const first = startService(env);
  await first.ready;
  const url = await embeddedDatabaseUrl(dataDir, port, "resnet_jobs");
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql`insert into sweeps (name, base_spec, grid) values ('kept', '{}', '{}')`;
  const [views] = await sql<{ n: number }[]>`select count(*)::int as n from information_schema.views where table_name = 'run_summary'`;
  assert.equal(views?.n, 1);
  await sql.end();
  assert.ok(postgresProcessesFor(dataDir).length > 0, "Postgres should run while the service runs");

  assert.equal(await stopWithSigint(first.child), 0);
  assert.deepEqual(postgresProcessesFor(dataDir), [], "Ctrl-C must leave no Postgres process behind");

  const second = startService(env);
  await second.ready;
  const again = postgres(url, { max: 1, onnotice: () => {} });
  const [kept] = await again<{ name: string }[]>`select name from sweeps`;
  assert.equal(kept?.name, "kept");
  await again.end();
  assert.equal(await stopWithSigint(second.child), 0);
  assert.deepEqual(postgresProcessesFor(dataDir), []);
});

test("npm start recovers from a kill -9 that left a stale postmaster.pid behind", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "resnet-jobs-start-"));
  dirs.push(dataDir);
  const env = { DATA_DIR: dataDir, PG_PORT: String(await freePort()), PORT: String(await freePort()) };
  const first = startService(env);
  await first.ready;
  // Kill the service and its Postgres hard, as a power cut would.
  first.child.kill("SIGKILL");
  for (const line of postgresProcessesFor(dataDir)) process.kill(Number(line.trim().split(/\s+/)[0]), "SIGKILL");
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(existsSync(path.join(dataDir, "postgres", "postmaster.pid")), "the kill should leave postmaster.pid");

  const second = startService(env);
  const out = await second.ready;
  assert.match(out, /removing stale .*postmaster\.pid/);
  assert.equal(await stopWithSigint(second.child), 0);
});

test("npm start refuses an invalid configuration with a message naming the variable and the rule", () => {
  const result = (() => {
    try {
      execFileSync(process.execPath, ["--import", "tsx", "service/main.ts"], {
        cwd: ROOT,
        env: { ...process.env, PORT: "eighty", WORKERS: "-1" },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
      return { status: 0, stderr: "" };
    } catch (e) {
      const err = e as { status: number; stderr: string };
      return { status: err.status, stderr: err.stderr };
    }
  })();
  assert.equal(result.status, 2);
  assert.match(result.stderr, /PORT: .*number/);
  assert.match(result.stderr, /WORKERS: .*>=0/);
});

test("LOG_FORMAT=json LOG_LEVEL=warn: every line of npm start and its children is JSON at warn or above, except the URL and admin token it was started to show", async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), "resnet-jobs-log-"));
  dirs.push(dataDir);
  const env = {
    DATA_DIR: dataDir,
    PG_PORT: String(await freePort()),
    PORT: String(await freePort()),
    LOG_FORMAT: "json",
    LOG_LEVEL: "warn",
    WORKERS: "1",
    TRAINER: "fake",
  };
  const service = startService(env);
  await service.ready;
  // A worker killed under the supervisor: its restart is a warning, which LOG_LEVEL=warn must keep.
  const workers = processTree(service.child.pid!).filter((p) => p.ppid === service.child.pid && /worker\/main\.ts/.test(p.args));
  assert.equal(workers.length, 1, "one worker process under npm start");
  process.kill(workers[0]!.pid, "SIGKILL");
  let out = "";
  service.child.stdout!.on("data", (d: Buffer) => (out += d));
  await eventually("the supervisor saw the worker exit", async () => /worker-1\] exited/.test(out), 20_000);
  assert.equal(await stopWithSigint(service.child), 0);
  const lines = ((await service.ready) + out).split("\n").filter((l) => l.trim() !== "");
  const entries = lines.map((l) => {
    try {
      return JSON.parse(l) as { level: string; msg: string; process?: string };
    } catch {
      throw new Error(`not a JSON line: ${l}`);
    }
  });
  const quiet = entries.filter((e) => e.level === "info" || e.level === "debug");
  assert.deepEqual(
    quiet.map((e) => e.msg.replace(/rjt_\S+/, "rjt_…").replace(/http:[^\s)]+/g, "URL")),
    ["API listening on URL (reference: URL)", "admin token: rjt_…  (shown only now; keep it)", "service running; press Ctrl-C to stop"],
  );
  assert.ok(entries.some((e) => e.level === "warn" && /^\[worker-1\] exited \(SIGKILL\); restarting/.test(e.msg)), lines.join("\n"));
  for (const e of entries.filter((e) => e.process !== undefined)) assert.notEqual(e.level, "info", `a child's info line: ${e.msg}`);
});
