/**
 * The API process (`deno run -A api/main.ts [--stop-with-parent]`; `npm start` spawns it): reads the
 * configuration, opens Postgres, gives the SQL reader role its login, serves the app on HOST:PORT, and
 * on SIGTERM/SIGINT stops taking connections, lets requests in flight finish, and closes the pools.
 */
import postgres from "postgres";
import { ensureAdminToken } from "../shared/api-tokens.ts";
import { ConfigError, loadConfig } from "../shared/config.ts";
import { reconnectBackoffS } from "../shared/db/database-unreachable.ts";
import { stopsWithParent, watchParent } from "../shared/watch-parent.ts";
import { createApp } from "./create-app.ts";
import { serveGuarded } from "./http/connection-guard.ts";
import { createLogger } from "../shared/logger.ts";
import { StreamHub } from "./streams/stream-hub.ts";
import { ensureSqlReaderLogin, openSqlReaderPool } from "./sql/sql-reader.ts";

let config;
try {
  config = loadConfig(Deno.env.toObject());
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(e.message);
  Deno.exit(2);
}
if (config.DATABASE_URL === undefined) {
  console.error("api/main.ts needs DATABASE_URL (npm start sets it to its own Postgres)");
  Deno.exit(2);
}
const log = createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT ?? "json", write: (line) => console.log(line) });

const sql = postgres(config.DATABASE_URL, {
  max: 10,
  onnotice: () => {},
  // Back soon after an outage (a restart, a failover): postgres.js's default waits up to 20 s.
  backoff: reconnectBackoffS,
  connection: { application_name: "resnet-jobs api" },
});

let readerSql: postgres.Sql | null = null;
try {
  readerSql = openSqlReaderPool(await ensureSqlReaderLogin(sql, config.DATABASE_URL));
} catch (e) {
  // The rest of the API works without it; POST /v1/sql answers 503 and says why.
  log("error", "POST /v1/sql is disabled", { error: (e as Error).message });
}
if (config.ADMIN_TOKEN !== undefined) await ensureAdminToken(sql, config.ADMIN_TOKEN);

// Live streams: one LISTEN hub per instance, on a client of its own that is replaced whenever the
// LISTEN is found dead (a Postgres restart, a failover), however long the outage.
const databaseUrl = config.DATABASE_URL;
const hub = new StreamHub({
  sql,
  log,
  listenClient: () =>
    postgres(databaseUrl, {
      max: 1,
      onnotice: () => {},
      backoff: reconnectBackoffS,
      connection: { application_name: "resnet-jobs api listen" },
    }),
});
await hub.start();
const app = createApp({
  sql,
  readerSql,
  log,
  streams: { hub, allowedOrigins: config.ALLOWED_ORIGINS },
  dashboardDir: new URL("../web/dist/", import.meta.url),
});

// Deno.serve behind a guard with header/idle timeouts and a connection cap (api/http/connection-guard.ts).
const server = await serveGuarded({
  hostname: config.HOST,
  port: config.PORT,
  maxConnections: config.MAX_CONNECTIONS,
  headerTimeoutMs: config.HEADER_TIMEOUT_S * 1000,
  idleTimeoutMs: config.IDLE_TIMEOUT_S * 1000,
  log,
  onListen: ({ hostname, port }) => {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    log("info", "listening", { url: `http://${host}:${port}` });
  },
}, app.fetch);
log("info", "connection limits", {
  maxConnections: server.maxConnections,
  headerTimeoutS: config.HEADER_TIMEOUT_S,
  idleTimeoutS: config.IDLE_TIMEOUT_S,
});

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) Deno.exit(1);
  stopping = true;
  log("info", "stopping", { signal });
  // Close the streams first (1001, clients resume elsewhere): open WebSockets would hold shutdown up.
  await hub.close();
  await server.shutdown();
  await Promise.all([sql.end({ timeout: 5 }), readerSql?.end({ timeout: 5 })]);
  Deno.exit(0);
}
Deno.addSignalListener("SIGTERM", () => void stop("SIGTERM"));
Deno.addSignalListener("SIGINT", () => void stop("SIGINT"));
// `npm start` passes --stop-with-parent: if the supervisor dies without stopping us (kill -9), we must
// not live on as an orphan holding PORT with a database that is gone. Deno.ppid is read live.
if (stopsWithParent(Deno.env.toObject(), Deno.args)) watchParent(() => Deno.ppid, () => void stop("parent exited"), 1000);
