/**
 * The REST API as a Hono app. Pure wiring: no I/O happens here or at import; everything the app talks
 * to comes in `deps`, so tests drive it with `app.request()` against a test database and `main.ts`
 * serves it with `Deno.serve`.
 *
 * @example
 * ```ts
 * const app = createApp({ sql, readerSql, log: createLogger({ level: "info", format: "json", write: console.log }) });
 * Deno.serve({ port: 8000 }, app.fetch);
 * ```
 */
import { drizzle } from "drizzle-orm/postgres-js";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import type postgres from "postgres";
import { isDatabaseUnreachable } from "../shared/db/database-unreachable.ts";
import { AppError, type ErrorCode } from "./app-error.ts";
import { bearerAuthenticator } from "./auth.ts";
import type { Db } from "./db/runs-repo.ts";
import { type AnyRouteSpec, type AppEnv, Router } from "./http/router.ts";
import type { Logger } from "../shared/logger.ts";
import { metaRoutes } from "./routes/meta-routes.ts";
import { modelRoutes } from "./routes/model-routes.ts";
import { reportRoutes } from "./routes/report-routes.ts";
import { runsRoutes } from "./routes/runs-routes.ts";
import { sqlRoutes } from "./routes/sql-routes.ts";
import { sweepsRoutes } from "./routes/sweeps-routes.ts";
import { tokensRoutes } from "./routes/tokens-routes.ts";
import { createStreamRoutes } from "./streams/create-stream-routes.ts";
import { STREAM_ROUTE_DOCS } from "./streams/stream-route-docs.ts";
import type { StreamHub } from "./streams/stream-hub.ts";
import { serveDashboard } from "./static/serve-dashboard.ts";

export interface AppOptions {
  /** statement_timeout of POST /v1/sql. */
  sqlTimeoutMs: number;
  /** Rows POST /v1/sql returns at most (then `truncated: true`). */
  sqlRowCap: number;
  /** Largest request body. */
  maxBodyBytes: number;
  /** Shown in /openapi.json. */
  version: string;
}

export const DEFAULT_APP_OPTIONS: AppOptions = {
  sqlTimeoutMs: 5_000,
  sqlRowCap: 10_000,
  maxBodyBytes: 1024 * 1024,
  version: "0.1.0",
};

export interface AppDeps {
  /** The application's pool (reads and writes). */
  sql: postgres.Sql;
  /** A pool logged in as the SQL reader role; null when it could not be set up (POST /v1/sql is 503). */
  readerSql: postgres.Sql | null;
  log: Logger;
  options?: Partial<AppOptions>;
  /** Live streams (api/streams/): mounted under /v1 when given; the hub is started and closed by the caller. */
  streams?: { hub: StreamHub; allowedOrigins?: readonly string[] };
  /** The built dashboard (web/dist, `npm run build:web`), served at `/` when given (api/static/). */
  dashboardDir?: string | URL;
}

/** What route modules receive. */
export interface RouteDeps {
  db: Db;
  sql: postgres.Sql;
  readerSql: postgres.Sql | null;
  log: Logger;
  options: AppOptions;
}

const declared = new WeakMap<Hono<AppEnv>, readonly AnyRouteSpec[]>();

/** The endpoints an app declares (what /openapi.json documents): the API tests check responses against them. */
export function declaredRoutes(app: Hono<AppEnv>): readonly AnyRouteSpec[] {
  const routes = declared.get(app);
  if (routes === undefined) throw new Error("not an app made by createApp");
  return routes;
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const options: AppOptions = { ...DEFAULT_APP_OPTIONS, ...deps.options };
  const { log } = deps;
  const app = new Hono<AppEnv>();
  const router = new Router(app, bearerAuthenticator(deps.sql, log));
  declared.set(app, router.routes);
  const routeDeps: RouteDeps = {
    db: drizzle(deps.sql) as Db,
    sql: deps.sql,
    readerSql: deps.readerSql,
    log,
    options,
  };

  app.use(requestId());
  app.use(async (c, next) => {
    const started = performance.now();
    c.set("auth", null);
    await next();
    const id = c.get("requestId");
    try {
      if (!c.res.headers.has("x-request-id")) c.res.headers.set("X-Request-Id", id);
      c.res.headers.set("X-Content-Type-Options", "nosniff");
    } catch {
      // A response with immutable headers (a WebSocket upgrade, a fetched one) keeps them as they are.
    }
    // The path and status only: never headers (the bearer token) or bodies.
    log(c.res.status >= 500 ? "error" : "info", "request", {
      requestId: id,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      ...(c.get("auth") ? { tokenId: c.get("auth")!.tokenId } : {}),
    });
  });
  app.use(bodyLimit({
    maxSize: options.maxBodyBytes,
    onError: () => {
      throw new AppError(
        "payload_too_large",
        `the request body is over the limit of ${options.maxBodyBytes} bytes`,
      );
    },
  }));

  runsRoutes(router, routeDeps);
  modelRoutes(router, routeDeps);
  sweepsRoutes(router, routeDeps);
  sqlRoutes(router, routeDeps);
  reportRoutes(router, routeDeps);
  tokensRoutes(router, routeDeps);
  metaRoutes(router, routeDeps);
  // --- live streams (api/streams/README.md): WebSocket + SSE endpoints, own auth before the upgrade ---
  if (deps.streams !== undefined) {
    const { hub, allowedOrigins = [] } = deps.streams;
    app.route("/", createStreamRoutes({ sql: deps.sql, hub, allowedOrigins, log }));
    for (const route of STREAM_ROUTE_DOCS) router.describe(route);
  }
  // --- end live streams ---
  // --- dashboard (web/, helper D): index.html at /, hashed assets under /assets/ ---
  if (deps.dashboardDir !== undefined) app.route("/", serveDashboard({ dir: deps.dashboardDir }));
  // --- end dashboard ---

  app.notFound((c) => {
    const allowed = router.methodsFor(c.req.path);
    const error = allowed.length > 0
      ? new AppError(
        "method_not_allowed",
        `${c.req.method} is not allowed on ${c.req.path}; use ${allowed.join(", ")}`,
        {
          headers: { Allow: allowed.join(", ") },
        },
      )
      : new AppError("not_found", `no endpoint ${c.req.method} ${c.req.path}; see /openapi.json`);
    return c.json(error.toBody(), error.status, error.headers);
  });

  app.onError((err, c) => {
    const requestId = c.get("requestId");
    const error = toAppError(err, requestId);
    if (error.status >= 500) {
      log("error", error.code === "unavailable" ? "database unavailable" : "unhandled error", {
        requestId,
        error: err instanceof Error ? err.message : String(err),
        ...(error.code === "internal" && err instanceof Error ? { stack: err.stack } : {}),
      });
    }
    return c.json(error.toBody(), error.status, error.headers);
  });

  return app;
}

function toAppError(err: unknown, requestId: string): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof HTTPException) {
    const code = (
      {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        413: "payload_too_large",
        415: "unsupported_media_type",
      } as Record<number, ErrorCode>
    )[err.status] ?? "internal";
    return new AppError(code, err.message || code.replace(/_/g, " "));
  }
  // An outage (shared/db/database-unreachable.ts), or our own pool ended while shutting down.
  if (isDatabaseUnreachable(err) || (err as { code?: unknown } | null)?.code === "CONNECTION_ENDED") {
    return new AppError("unavailable", "the database is unavailable; try again shortly");
  }
  return new AppError(
    "internal",
    `internal error; the server log has the details under request id ${requestId}`,
  );
}
