// Benchmark: the dashboard loads and draws 100 runs × 60 epochs within 1 s (issue 8).
//   node --import tsx bench/dashboard-render.ts [--runs 100] [--epochs 60] [--repeat 5]
// Starts an embedded Postgres, the real API (Deno, api/main.ts) and Debian's
// headless Chromium; creates a sweep of N runs over the API, gives each run E epochs of metrics in SQL
// (as a worker would have written them) and marks it succeeded; then loads, in a fresh tab each time:
//   runs   #/?sweep=…      the runs table (seed columns) for the N runs
//   sweep  #/sweeps/…      heat map + 4 overlaid charts of N runs × E epochs (1 + N API requests)
//   run    #/runs/…        one run: 2 epoch charts + the LR/WD-per-iteration chart
// The time is from navigation start to the view's performance mark, set one animation frame after its
// charts were drawn (web/src/render-mark.ts). The first load of each view has a cold HTTP cache only
// for the very first; assets are immutable and cached after that, as for a returning user.
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import postgres from "postgres";
import { ensureDatabase } from "../service/database.ts";
import { startEmbeddedPostgres } from "../service/embedded-postgres.ts";
import { migrateDatabase } from "../service/migrate.ts";
import { CHROMIUM_ARGS } from "../test/dashboard-harness.ts";
import { findChromium } from "../test/helpers/find-chromium.ts";
import { freePort } from "../test/helpers/free-port.ts";
import { buildDashboard } from "../web/build-dashboard.ts";
import { spawn } from "node:child_process";
import { DENO_BINARY } from "../service/deno-binary.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "100" }, epochs: { type: "string", default: "60" }, repeat: { type: "string", default: "5" } } });
const RUNS = Number(values.runs);
const EPOCHS = Number(values.epochs);
const REPEAT = Number(values.repeat);

const dir = await mkdtemp(path.join(tmpdir(), "dashboard-bench-"));
const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), port: await freePort(), ephemeral: true });
const cleanups: (() => Promise<unknown>)[] = [async () => { await pg.stop(); await rm(dir, { recursive: true, force: true }); }];
try {
  const url = await ensureDatabase(pg.url, "dashboard_bench");
  await migrateDatabase(url);
  await buildDashboard();
  const token = `rjt_bench_${crypto.randomUUID()}`;
  const port = await freePort();
  const api = spawn(DENO_BINARY, ["run", "-A", "api/main.ts"], {
    env: { ...process.env, DATABASE_URL: url, ADMIN_TOKEN: token, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "info", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  cleanups.push(async () => { api.kill("SIGTERM"); await new Promise((r) => api.once("exit", r)); });
  // The log line may arrive split over chunks: match on everything read so far, and give up after 60 s.
  let apiOut = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`api/main.ts did not start within 60 s:\n${apiOut}`)), 60_000);
    api.stdout!.on("data", (d: Buffer) => {
      apiOut += String(d);
      if (/"listening"/.test(apiOut)) {
        clearTimeout(timer);
        resolve();
      }
    });
    api.once("exit", (code) => reject(new Error(`api/main.ts exited (${code}):\n${apiOut}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${base}${p}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, ...(body ? { body: JSON.stringify(body) } : {}) });
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };

  // N runs: λ × α, α being each schedule's peak, as the seed's tables vary them.
  const lambdas = Array.from({ length: 10 }, (_, i) => Number((0.05 + 0.05 * i).toFixed(2)));
  const schedules = Array.from({ length: Math.ceil(RUNS / 10) }, (_, i) => `[${(8 + i) / 10}e-3, 0]lin[${(8 + i) / 10}e-3, ${Math.round(EPOCHS / 3)}]cos[1e-5, ${EPOCHS - 6}]lin[6e-6, ${EPOCHS}]`);
  const sweep = await call("POST", "/v1/sweeps", { name: "bench", base: { name: "bench" }, grid: { schedule: schedules, "optimizer.lambda": lambdas } });
  const runIds: string[] = sweep.runs.map((r: { id: string }) => r.id).slice(0, RUNS);
  const sql = postgres(url, { max: 4, onnotice: () => {} });
  cleanups.push(() => sql.end());
  const rows = [];
  for (const [k, id] of runIds.entries()) {
    for (let e = 1; e <= EPOCHS; e++) {
      const valAcc = 0.93 - 0.6 * Math.exp(-e / (6 + (k % 7))) + 0.01 * Math.sin(e + k);
      rows.push({ run_id: id, epoch: e, loss: 2.3 * Math.exp(-e / 8), acc: valAcc + 0.03, val_loss: 0.25 + 2 * Math.exp(-e / 6), val_acc: valAcc, lr: 1e-3, wd: 1.5e-4, seconds: 30, images_per_sec: 1300, attempt: 1 });
    }
  }
  for (let i = 0; i < rows.length; i += 2000) await sql`insert into epoch_metrics ${sql(rows.slice(i, i + 2000))}`;
  await sql`update runs set state = 'running', attempt = 1, lease_token = gen_random_uuid(), worker_id = 'bench', lease_expires_at = now() + interval '1 h', started_at = now() where id = any(${runIds})`;
  await sql`update runs set state = 'succeeded', finished_at = now(), lease_token = null, lease_expires_at = null where id = any(${runIds})`;

  if (process.env.BENCH_DEBUG) {
    for (const p of [`/v1/runs/${runIds[0]}`, `/v1/runs/${runIds[0]}/metrics`, `/v1/sweeps/${sweep.id}`, `/v1/runs?sweep=${sweep.id}&limit=1000`, "/healthz"]) {
      const t: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        await call("GET", p);
        t.push(performance.now() - t0);
      }
      console.log(`GET ${p.slice(0, 30)}: ${t.map((x) => x.toFixed(0)).join(" ")} ms`);
    }
  }
  const profile = await mkdtemp(path.join(tmpdir(), "dashboard-bench-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: (await findChromium()).path, headless: true, args: CHROMIUM_ARGS, locale: "en-US", viewport: { width: 1440, height: 900 } });
  cleanups.push(async () => { await context.close(); await rm(profile, { recursive: true, force: true }); });
  const setup = context.pages()[0] ?? (await context.newPage());
  await setup.goto(base);
  await setup.evaluate((t) => localStorage.setItem("resnet-jobs.token", t), token);

  const errors: string[] = [];
  async function measure(view: string, hash: string, expectPoints: number): Promise<number> {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    const cdp = process.env.BENCH_PROFILE ? await context.newCDPSession(page) : null;
    if (cdp) {
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
      await cdp.send("Profiler.start");
    }
    await page.goto(`${base}/${hash}`);
    const handle = await page.waitForFunction((name) => {
      const m = performance.getEntriesByName(`dashboard:${name}`)[0] as PerformanceMark | undefined;
      return m && { startTime: m.startTime, points: (m.detail as { points: number }).points };
    }, view, { timeout: 30_000 });
    const mark = (await handle.jsonValue()) as { startTime: number; points: number };
    if (cdp) {
      const { profile } = await cdp.send("Profiler.stop");
      const self = new Map<string, number>();
      const dt = new Map<number, number>();
      profile.samples?.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas?.[i] ?? 0)));
      for (const n of profile.nodes) {
        const key = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber}`;
        self.set(key, (self.get(key) ?? 0) + (dt.get(n.id) ?? 0) / 1000);
      }
      console.log(view, [...self].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${v.toFixed(0)}ms ${k}`).join("\n  "));
    }
    if (process.env.BENCH_DEBUG) {
      console.log(view, mark.startTime.toFixed(0), JSON.stringify(await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
        const res = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
        return { dcl: Math.round(nav.domContentLoadedEventEnd), resp: Math.round(nav.responseEnd), res: res.map((r) => `${r.name.replace(/^https?:\/\/[^/]+/, "").slice(0, 40)} ${Math.round(r.startTime)}-${Math.round(r.responseEnd)}`) };
      })));
    }
    if (mark.points !== expectPoints) throw new Error(`${view}: drew ${mark.points} points, expected ${expectPoints}`);
    await page.close();
    return mark.startTime;
  }

  const views: [string, string, string, number][] = [
    ["runs", `runs table, ${RUNS} runs`, `#/?sweep=${sweep.id}`, RUNS],
    ["compare", `sweep page: heat map + 4 charts × ${RUNS} runs × ${EPOCHS} epochs`, `#/sweeps/${sweep.id}`, RUNS * EPOCHS],
    ["run", `run page: ${EPOCHS} epochs + LR/WD per iteration`, `#/runs/${runIds[0]}`, EPOCHS],
  ];
  const results: string[] = [];
  for (const [mark, label, hash, points] of views) {
    const times: number[] = [];
    for (let i = 0; i < REPEAT; i++) times.push(await measure(mark, hash, points));
    const sorted = [...times].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    results.push(`| ${label} | ${times[0]!.toFixed(0)} | ${median.toFixed(0)} | ${sorted[sorted.length - 1]!.toFixed(0)} |`);
  }
  if (errors.length) throw new Error(`console errors: ${errors.join("\n")}`);
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(`machine: ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Chromium ${context.browser()?.version() ?? "(persistent)"}; ${REPEAT} loads per view`);
  console.log("| view | first load ms | median ms | max ms |");
  console.log("|---|---:|---:|---:|");
  for (const r of results) console.log(r);
} finally {
  for (const c of cleanups.reverse()) await c().catch((e) => console.error(e));
}
