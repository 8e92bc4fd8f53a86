import { asc } from "drizzle-orm";
import { errorBodySchema, healthSchema, workerListSchema } from "../../shared/api-schemas.ts";
import { workers } from "../../shared/db/schema.ts";
import { AppError } from "../app-error.ts";
import type { RouteDeps } from "../create-app.ts";
import type { Router } from "../http/router.ts";
import { buildOpenApi } from "../openapi/build-openapi.ts";
import { DOCS_CSP, DOCS_PAGE } from "../openapi/docs-page.ts";

/** A health check must answer fast even when Postgres hangs rather than refuses. */
const HEALTH_TIMEOUT_MS = 2_000;

export function metaRoutes(router: Router, deps: RouteDeps): void {
  router.add({
    method: "get",
    path: "/v1/workers",
    operationId: "listWorkers",
    summary: "Workers: id, host, pid, backend, device, state, current run, last seen",
    tag: "workers",
    scope: "read",
    responses: { 200: { description: "Every registered worker", schema: workerListSchema } },
  }, async (c) => {
    const rows = await deps.db.select().from(workers).orderBy(asc(workers.id)).limit(10_000);
    return c.json({
      workers: rows.map((w) => ({
        ...w,
        startedAt: w.startedAt.toISOString(),
        lastSeenAt: w.lastSeenAt.toISOString(),
      })),
    }, 200);
  });

  router.add({
    method: "get",
    path: "/healthz",
    operationId: "health",
    summary: "Whether the API can reach Postgres (503 if not)",
    tag: "meta",
    scope: null,
    responses: {
      200: { description: "Healthy", schema: healthSchema },
      503: { description: "Postgres unreachable", schema: errorBodySchema },
    },
  }, async (c) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)),
        HEALTH_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([deps.sql`select 1`, timeout]);
    } catch (e) {
      // Anyone may call this: the reason (it names the database host and port) goes to the log only.
      deps.log("warn", "healthz: Postgres is unreachable", { error: (e as Error).message });
      throw new AppError("unavailable", "Postgres is unreachable");
    } finally {
      clearTimeout(timer);
    }
    return c.json({ status: "ok" as const, database: "ok" as const }, 200);
  });

  let document: Record<string, unknown> | null = null;
  router.add({
    method: "get",
    path: "/openapi.json",
    operationId: "openapi",
    summary: "This API's OpenAPI 3.1 document",
    tag: "meta",
    scope: null,
    responses: { 200: { description: "OpenAPI 3.1" } },
  }, (c) => {
    // Built on first use: by then every route, including ones other modules add, is declared.
    document ??= buildOpenApi(router.routes, { version: deps.options.version });
    return c.json(document, 200);
  });

  router.add({
    method: "get",
    path: "/docs",
    operationId: "docs",
    summary: "API reference page (self-contained: no CDN)",
    tag: "meta",
    scope: null,
    responses: { 200: { description: "HTML", alternatives: ["text/html"] } },
  }, (c) => c.html(DOCS_PAGE, 200, { "Content-Security-Policy": DOCS_CSP }));
}
