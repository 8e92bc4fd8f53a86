// `npm start`: the whole service on one machine. Reads the environment, opens Postgres (embedded
// unless DATABASE_URL is set) and migrates it, then supervises the API and the worker processes.
import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig } from "../shared/config.ts";
import { openDatabase } from "./database.ts";
import { Supervisor } from "./supervisor.ts";

const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);

let config;
try {
  config = loadConfig(process.env);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(e.message);
  process.exit(2);
}

const db = await openDatabase(config, log);
log(`database ready (${db.embedded ? `embedded Postgres on port ${config.PG_PORT}` : "DATABASE_URL"})`);
const supervisor = new Supervisor(log);

// WORKERS worker processes (`npm run worker` each), restarted by the supervisor when one dies. They
// get the database URL; everything else (LEASE_S, BACKEND, TRAINER, ...) comes from our environment.
const WORKER_MAIN = fileURLToPath(new URL("../worker/main.ts", import.meta.url));
for (let i = 1; i <= config.WORKERS; i++) {
  supervisor.add({
    name: `worker-${i}`,
    command: process.execPath,
    args: ["--import", "tsx", WORKER_MAIN],
    env: { ...process.env, DATABASE_URL: db.url },
  });
}

// npm forwards the terminal's Ctrl-C to us, and the terminal sends it too: one key press can arrive
// twice within a few milliseconds. Only a signal well after the first one means "force".
const REPEAT_WINDOW_MS = 1000;
let stoppingSince: number | null = null;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stoppingSince !== null && Date.now() - stoppingSince < REPEAT_WINDOW_MS) return;
  if (stoppingSince !== null) {
    log(`${signal} again: killing children now`);
    supervisor.killAll();
    await db.close().catch(() => {});
    process.exit(1);
  }
  stoppingSince = Date.now();
  log(`${signal}: stopping (press Ctrl-C again to force)`);
  await supervisor.stop(35_000);
  await db.close();
  log("stopped");
  process.exit(0);
}
process.on("SIGINT", (s) => void shutdown(s));
process.on("SIGTERM", (s) => void shutdown(s));
log("service running; press Ctrl-C to stop");
