// `npm test`: every test of the project in one command, against one Postgres.
//   1. Postgres: DATABASE_URL's server if set, else an embedded one in a temp dir on a free port.
//   2. A migrated template database; each test file clones its own database from it.
//   3. Type checks (tsc for Node code, deno check for Deno code), Deno tests, Node tests (a pool).
//   4. A summary ending in the line "N passed, N failed". Exit 1 on any failure or type error.
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { ensureDatabase } from "../service/database.ts";
import { DENO_BINARY } from "../service/deno-binary.ts";
import { startEmbeddedPostgres } from "../service/embedded-postgres.ts";
import { migrateDatabase } from "../service/migrate.ts";
import { freePort } from "./helpers/free-port.ts";
import { findTestFiles } from "./helpers/find-test-files.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = path.join(ROOT, "node_modules", ".bin");
const TEMPLATE_DB = "resnet_jobs_template";
/** A test file that runs longer than this is killed and counted as failed, so CI never hangs. */
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_S ?? 300) * 1000;

interface Outcome {
  name: string;
  passed: number;
  failed: number;
  ok: boolean;
  seconds: number;
  output: string;
}

const filter = process.argv.slice(2);
const groups = new Set<number>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    for (const pid of groups) killGroup(pid);
    void stopPostgres().finally(() => process.exit(130));
  });
}

function processesInGroup(pgid: number): string {
  try {
    return execFileSync("ps", ["-o", "pid,etime,args", "-g", String(pgid)], { encoding: "utf8" });
  } catch {
    return "(ps failed)";
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}
const started = Date.now();
let stopPostgres = async () => {};
const { serverUrl, stop } = await startPostgres();
stopPostgres = stop;
let exitCode = 1;
try {
  await prepareTemplate(serverUrl);
  const env = { ...process.env, TEST_PG_URL: serverUrl, TEST_TEMPLATE_DB: TEMPLATE_DB, FORCE_COLOR: "0", NO_COLOR: "1" };
  const results: Outcome[] = [];
  if (filter.length === 0) {
    results.push(...await Promise.all([
      run("typecheck: tsc", path.join(BIN, "tsc"), ["--noEmit", "-p", "tsconfig.json"], env, "check"),
      run("typecheck: deno check", DENO_BINARY, ["check", "--quiet", ...await denoTargets()], env, "check"),
    ]));
  }
  const deno = (await findTestFiles(ROOT, "deno")).filter(matches);
  if (deno.length > 0) {
    results.push(
      await run("deno test", DENO_BINARY, ["test", "-A", "--parallel", "--v8-flags=--expose-gc", ...deno], {
        ...env,
        DENO_JOBS: String(Math.max(2, availableParallelism())),
      }, "deno"),
    );
  }
  const nodeFiles = (await findTestFiles(ROOT, "node")).filter(matches);
  results.push(...await pool(nodeFiles, Math.max(2, availableParallelism()), (file) =>
    run(`node ${file}`, process.execPath, ["--import", "tsx", "--test", "--test-reporter=tap", file], env, "node")));
  exitCode = report(results);
} finally {
  await stop();
}
process.exit(exitCode);

function matches(file: string): boolean {
  return filter.length === 0 || filter.some((f) => file.includes(f));
}

/** Deno checks its own code: api/, shared/ (runtime-neutral) and the Deno test files in test/. */
async function denoTargets(): Promise<string[]> {
  const dirs = (await Promise.all(["api", "shared"].map(async (d) => (await hasTs(d)) ? [d] : []))).flat();
  return [...dirs, ...(await findTestFiles(ROOT, "deno")).filter((f) => f.startsWith("test/"))];
}

async function hasTs(dir: string): Promise<boolean> {
  const entries = await readdir(path.join(ROOT, dir), { recursive: true }).catch(() => []);
  return entries.some((e) => String(e).endsWith(".ts"));
}

async function startPostgres(): Promise<{ serverUrl: string; stop: () => Promise<void> }> {
  const external = process.env.DATABASE_URL;
  if (external) {
    console.log("using the Postgres server at DATABASE_URL");
    return { serverUrl: external, stop: async () => {} };
  }
  const dir = await mkdtemp(path.join(tmpdir(), "resnet-jobs-test-"));
  const port = await freePort();
  const t0 = Date.now();
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), port, ephemeral: true });
  console.log(`embedded Postgres on port ${port} (${Date.now() - t0} ms)`);
  return {
    serverUrl: pg.url,
    stop: async () => {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function prepareTemplate(serverUrl: string): Promise<void> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${TEMPLATE_DB}" with (force)`);
  } finally {
    await admin.end();
  }
  await migrateDatabase(await ensureDatabase(serverUrl, TEMPLATE_DB));
}

function run(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, kind: "check" | "deno" | "node") {
  return new Promise<Outcome>((resolve) => {
    const t0 = Date.now();
    // Its own process group, so a timeout kills the test and everything it spawned (workers, servers).
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    groups.add(child.pid!);
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d));
    let errors = "";
    child.stderr.on("data", (d: Buffer) => {
      output += d;
      errors += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // Say what was still alive, so a hang can be diagnosed from the CI log alone.
      output += `\nstill running:\n${processesInGroup(child.pid!)}`;
      killGroup(child.pid!);
    }, kind === "deno" ? FILE_TIMEOUT_MS * 2 : FILE_TIMEOUT_MS);
    if (kind === "deno") child.stdout.on("data", (d: Buffer) => process.stdout.write(d));
    child.on("close", (code) => {
      clearTimeout(timer);
      groups.delete(child.pid!);
      if (timedOut) output += `\nkilled: still running after ${FILE_TIMEOUT_MS / 1000} s\n`;
      const seconds = (Date.now() - t0) / 1000;
      const counts = kind === "node" ? tapCounts(output) : kind === "deno" ? denoCounts(output) : null;
      const ok = code === 0 && !timedOut;
      const outcome: Outcome = {
        name,
        passed: counts?.passed ?? 0,
        failed: counts?.failed ?? (ok ? 0 : 1),
        ok,
        seconds,
        output,
      };
      // Deno's report went out live on stdout; what failed outside a test (a type error) is on stderr.
      if (kind === "deno" && !ok) console.log(indent(errors.slice(-20_000)));
      if (kind !== "deno") {
        const tests = counts ? ` ${counts.passed} passed, ${counts.failed} failed,` : "";
        console.log(`${ok ? "ok  " : "FAIL"} ${name} (${tests} ${seconds.toFixed(1)} s)`);
        if (!ok) console.log(indent(output));
        // A passing test's own "# ..." lines (timings such as recovery times) still reach the log.
        else for (const line of output.split("\n")) if (/^\s*# \\# /.test(line)) console.log(`     ${line.trim().slice(4)}`);
      }
      resolve(outcome);
    });
  });
}

function tapCounts(out: string): { passed: number; failed: number } {
  const pass = /^# pass (\d+)$/m.exec(out);
  const fail = /^# fail (\d+)$/m.exec(out);
  return { passed: Number(pass?.[1] ?? 0), failed: Number(fail?.[1] ?? 0) };
}

function denoCounts(raw: string): { passed: number; failed: number } {
  // Deno colours its summary even with NO_COLOR when stdout is a pipe it was told to colour; strip it.
  const out = raw.replace(/\x1b\[[0-9;]*m/g, "");
  const m = /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(out);
  return { passed: Number(m?.[1] ?? 0), failed: Number(m?.[2] ?? 0) };
}

async function pool<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  }));
  return results;
}

function indent(text: string): string {
  return text.split("\n").map((l) => `    ${l}`).join("\n");
}

function report(results: Outcome[]): number {
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  const broken = results.filter((r) => !r.ok);
  console.log("");
  console.log(`${results.length} groups in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const r of broken) console.log(`FAILED: ${r.name}`);
  // A group that failed without failing tests (type error, crash at import) still counts as a failure.
  const extra = broken.filter((r) => r.failed === 0).length;
  console.log(`${passed} passed, ${failed + extra} failed`);
  return broken.length === 0 && failed === 0 ? 0 : 1;
}
