/**
 * The API as the dashboard's end-to-end tests and benchmark run it (`deno run -A
 * api/static/dashboard-e2e-server.ts`): the real app (createApp), the real live streams
 * (createStreamRoutes + StreamHub over Postgres NOTIFY) and the dashboard, over DATABASE_URL, with
 * ADMIN_TOKEN seeded. It is api/main.ts's wiring of the same parts, kept here until main.ts mounts the
 * streams and the dashboard itself; then the tests start main.ts and this file goes.
 */
import postgres from "postgres";
import { ensureAdminToken } from "../../shared/api-tokens.ts";
import { createApp } from "../create-app.ts";
import { jsonLogger } from "../logger.ts";
import { createStreamRoutes } from "../streams/create-stream-routes.ts";
import { StreamHub } from "../streams/stream-hub.ts";
import { ensureSqlReaderLogin, openSqlReaderPool } from "../sql/sql-reader.ts";
import { serveDashboard } from "./serve-dashboard.ts";

const env = Deno.env.toObject();
const url = env.DATABASE_URL;
const token = env.ADMIN_TOKEN;
if (!url || !token) {
  console.error("dashboard-e2e-server needs DATABASE_URL and ADMIN_TOKEN");
  Deno.exit(2);
}
const log = jsonLogger(env.LOG_LEVEL === "debug" ? "debug" : "warn", (line) => console.log(line));
const sql = postgres(url, { max: 10, onnotice: () => {} });
await ensureAdminToken(sql, token);
const hub = new StreamHub({ sql, log });
await hub.start();
// POST /v1/sql as in main.ts: the dashboard reads many runs' epochs through it in one request.
const readerSql = openSqlReaderPool(await ensureSqlReaderLogin(sql, url));
const app = createApp({ sql, readerSql, log });
app.route("/v1", createStreamRoutes({ sql, hub, log }));
app.route("/", serveDashboard({ dir: new URL("../../web/dist/", import.meta.url) }));

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: Number(env.PORT ?? 0),
  onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
}, app.fetch);

async function stop(): Promise<void> {
  await server.shutdown();
  await hub.close();
  await readerSql.end({ timeout: 2 });
  await sql.end({ timeout: 2 });
  Deno.exit(0);
}
Deno.addSignalListener("SIGTERM", () => void stop());
Deno.addSignalListener("SIGINT", () => void stop());
