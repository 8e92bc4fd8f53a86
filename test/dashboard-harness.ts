/**
 * The dashboard's end-to-end setup: the real API process (api/main.ts: REST, live streams, dashboard) over a
 * test database cloned from the migrated template, real worker processes with the fake trainer, and
 * a Chromium (the system's, else the one inside the npm package @sparticuz/chromium: see
 * helpers/find-chromium.ts) driven by playwright-core with a fresh profile. Screenshots go to a git-ignored
 * folder and are checked to be non-blank by their pixel variance.
 *
 * @example
 * ```ts
 * const h = await startDashboardHarness({ workers: 2 });
 * await h.page.goto(h.baseUrl);
 * await h.close();
 * ```
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { createApiToken } from "../shared/api-tokens.ts";
import { buildDashboard } from "../web/build-dashboard.ts";
import { DENO_BINARY } from "../service/deno-binary.ts";
import { findChromium } from "./helpers/find-chromium.ts";
import { freePort } from "./helpers/free-port.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const SCREENSHOT_DIR = path.join(ROOT, ".tmp", "dashboard-screenshots");
const CLEANUP_TIMEOUT_MS = 15_000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still not done after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The flags the project runs Chromium with: headless, no sandbox (root in CI), nothing phoning home. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Proc {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

function startProcess(name: string, cmd: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const listeners: (() => void)[] = [];
  const onData = (d: Buffer) => {
    out += d.toString("utf8");
    if (process.env.DASHBOARD_TEST_VERBOSE) process.stderr.write(`[${name}] ${d}`);
    for (const l of [...listeners]) l();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    output: () => out,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const line = out.split("\n").find((l) => pattern.test(l));
          if (line !== undefined) {
            listeners.splice(listeners.indexOf(check), 1);
            clearTimeout(timer);
            resolve(line);
          } else if (child.exitCode !== null) {
            listeners.splice(listeners.indexOf(check), 1);
            clearTimeout(timer);
            reject(new Error(`${name} exited (${child.exitCode}) before printing ${pattern}:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          listeners.splice(listeners.indexOf(check), 1);
          reject(new Error(`${name}: nothing matching ${pattern} within ${timeoutMs} ms:\n${out}`));
        }, timeoutMs);
        listeners.push(check);
        child.once("exit", check);
        check();
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

export interface DashboardHarness {
  baseUrl: string;
  adminToken: string;
  db: TestDatabase;
  api: Proc;
  workers: Proc[];
  context: BrowserContext;
  page: Page;
  /** Browser console errors and uncaught page errors seen so far. */
  consoleErrors: string[];
  /** An authorized JSON request to the API from the test itself. */
  request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  /** Saves a full-page screenshot and returns the standard deviation of its pixel luminance. */
  screenshot(name: string): Promise<{ file: string; stddev: number }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  workers?: number;
  fakeBatchMs?: number;
  fakeBatches?: number;
  viewport?: { width: number; height: number };
}

export async function startDashboardHarness(opts: HarnessOptions = {}): Promise<DashboardHarness> {
  const browser = await findChromium();
  await buildDashboard({ minify: process.env.DASHBOARD_MINIFY !== "0" });
  const db = await createTestDatabase();
  const cleanups: (() => Promise<unknown>)[] = [() => db.drop()];
  // Every step is bounded: a hung browser or process must not keep the test file alive (the runner
  // kills it at 300 s and counts it failed even though every test passed).
  const close = async () => {
    for (const c of cleanups.reverse()) {
      await withTimeout(c(), CLEANUP_TIMEOUT_MS).catch((e) => console.error(`cleanup: ${e}`));
    }
  };
  try {
    const adminToken = `rjt_e2e_${crypto.randomUUID()}`;
    const port = await freePort();
    const api = startProcess("api", DENO_BINARY, ["run", "-A", "api/main.ts"], {
      DATABASE_URL: db.url,
      ADMIN_TOKEN: adminToken,
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      NO_COLOR: "1",
    });
    cleanups.push(() => api.stop());
    await api.waitFor(/"listening"/, 60_000);
    const baseUrl = `http://127.0.0.1:${port}`;

    const workers: Proc[] = [];
    if ((opts.workers ?? 0) > 0) {
      const workerToken = (await createApiToken(db.sql, { name: "e2e worker", scopes: ["worker"] })).token;
      for (let i = 0; i < opts.workers!; i++) {
        const w = startProcess(`worker${i}`, process.execPath, ["--import", "tsx", "worker/main.ts"], {
          DATABASE_URL: db.url,
          API_URL: baseUrl,
          WORKER_TOKEN: workerToken,
          WORKER_ID: `e2e-worker-${i}`,
          TRAINER: "fake",
          FAKE_BATCH_MS: String(opts.fakeBatchMs ?? 100),
          FAKE_BATCHES: String(opts.fakeBatches ?? 5),
          LEASE_S: "5",
          HEARTBEAT_S: "1",
          POLL_MS: "100",
          LOG_LEVEL: "info",
        });
        cleanups.push(() => w.stop());
        workers.push(w);
      }
    }

    const profile = await mkdtemp(path.join(tmpdir(), "dashboard-chromium-"));
    cleanups.push(() => rm(profile, { recursive: true, force: true }));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: browser.path,
      headless: true,
      args: CHROMIUM_ARGS,
      // A fixed locale: the npm Chromium derives navigator.language from the environment, and a POSIX
      // locale such as C.UTF-8 gives "en-US@posix", which Intl rejects.
      locale: "en-US",
      viewport: opts.viewport ?? { width: 1440, height: 900 },
    });
    cleanups.push(async () => {
      try {
        await withTimeout(context.close(), CLEANUP_TIMEOUT_MS);
      } finally {
        // If Chromium did not go, its processes (found by their profile directory) go now.
        spawn("pkill", ["-KILL", "-f", `--user-data-dir=${profile}`], { stdio: "ignore" });
      }
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const consoleErrors: string[] = [];
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
    page.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.stack ?? e.message}`));
    await mkdir(SCREENSHOT_DIR, { recursive: true });

    return {
      baseUrl,
      adminToken,
      db,
      api,
      workers,
      context,
      page,
      consoleErrors,
      async request(method, p, body) {
        const res = await fetch(`${baseUrl}${p}`, {
          method,
          headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        return { status: res.status, json: text ? JSON.parse(text) : null };
      },
      async screenshot(name) {
        const file = path.join(SCREENSHOT_DIR, `${name}.png`);
        const png = await page.screenshot({ path: file, fullPage: true });
        return { file, stddev: await pixelStddev(page, png) };
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * The standard deviation of the luminance of a PNG's pixels, computed by the browser itself (it
 * decodes PNGs; Node cannot without a package). A blank page is ≈ 0; the dashboard's pages ≫ 10.
 */
async function pixelStddev(page: Page, png: Buffer): Promise<number> {
  const other = await page.context().newPage();
  try {
    return await other.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext("2d")!;
      ctx.drawImage(img, 0, 0);
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      let n = 0, sum = 0, sq = 0;
      for (let i = 0; i < data.length; i += 4) {
        const y = 0.2126 * data[i]! + 0.7152 * data[i + 1]! + 0.0722 * data[i + 2]!;
        sum += y;
        sq += y * y;
        n++;
      }
      const mean = sum / n;
      return Math.sqrt(Math.max(0, sq / n - mean * mean));
    }, png.toString("base64"));
  } finally {
    await other.close();
  }
}
