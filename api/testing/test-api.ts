/**
 * For API tests: a fresh database cloned from the migrated template (one per test file), the app over
 * it with the real SQL reader role, and one token per scope. Requests go through `app.request()`, and
 * every response is checked against what its route declares (api/http/response-contract.ts): a status
 * the route does not document, or a body its schema rejects, fails the test that received it.
 *
 * @example
 * ```ts
 * const api = await startTestApi();
 * const res = await api.request("GET", "/v1/runs", { token: api.tokens.read });
 * await api.close();
 * ```
 */
import type postgres from "postgres";
import { createApiToken } from "../../shared/api-tokens.ts";
import type { TokenScope } from "../../shared/run-states.ts";
import { createTestDatabase, type TestDatabase } from "../../test/helpers/test-database.ts";
import { type AppOptions, createApp, declaredRoutes } from "../create-app.ts";
import { responseBreaches } from "../http/response-contract.ts";
import { memoryLogger } from "../../shared/logger.ts";
import { ensureSqlReaderLogin, openSqlReaderPool } from "../sql/sql-reader.ts";

export interface TestApi {
  db: TestDatabase;
  sql: postgres.Sql;
  app: ReturnType<typeof createApp>;
  log: ReturnType<typeof memoryLogger>;
  tokens: Record<TokenScope, string>;
  request(
    method: string,
    path: string,
    opts?: { token?: string | null; json?: unknown; body?: BodyInit; headers?: Record<string, string> },
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestApi(options: Partial<AppOptions> = {}): Promise<TestApi> {
  const db = await createTestDatabase();
  const readerSql = openSqlReaderPool(await ensureSqlReaderLogin(db.sql, db.url), 2);
  const log = memoryLogger();
  const app = createApp({ sql: db.sql, readerSql, log, options });
  const tokens = {} as Record<TokenScope, string>;
  for (const scope of ["read", "submit", "admin", "worker"] as const) {
    tokens[scope] = (await createApiToken(db.sql, { name: `test ${scope}`, scopes: [scope] })).token;
  }
  return {
    db,
    sql: db.sql,
    app,
    log,
    tokens,
    request: async (method, path, opts = {}) => {
      const headers: Record<string, string> = { ...opts.headers };
      const token = opts.token === undefined ? tokens.admin : opts.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let body = opts.body;
      if (opts.json !== undefined) {
        body = JSON.stringify(opts.json);
        headers["content-type"] ??= "application/json";
      }
      const res = await app.request(path, { method, headers, ...(body === undefined ? {} : { body }) });
      const breaches = await responseBreaches(declaredRoutes(app), method, new URL(path, "http://api").pathname, res);
      if (breaches.length > 0) throw new Error(`response breaks its route's declaration:\n${breaches.join("\n")}`);
      return res;
    },
    close: async () => {
      await readerSql.end({ timeout: 5 });
      await db.drop();
    },
  };
}

/** A short valid spec (3 epochs on synthetic data) for tests that only need some run. */
export const SMALL_SPEC = {
  name: "small",
  schedule: "[1e-3, 0]lin[1e-3, 2]cos[1e-5, 3]",
  data: { dataset: "synthetic", trainSize: 256, imageSize: 8 },
  model: { depth: 11 },
  batchSize: 32,
} as const;

/** Inserts metrics rows for a run, as a worker would have (tests of summaries and reports). */
export async function insertEpochs(
  sql: postgres.Sql,
  runId: string,
  epochs: { epoch: number; loss: number; acc: number; valLoss: number; valAcc: number }[],
): Promise<void> {
  for (const e of epochs) {
    await sql`insert into epoch_metrics (run_id, epoch, loss, acc, val_loss, val_acc, lr, wd, seconds, images_per_sec, attempt)
      values (${runId}, ${e.epoch}, ${e.loss}, ${e.acc}, ${e.valLoss}, ${e.valAcc}, 1e-3, 1.5e-4, 10, 100, 1)`;
  }
}

/** A stored model as a worker writes it, with 5 MiB of weights: two shards (4 MiB of 0xab, 1 MiB of 0xcd). */
export async function storeRunModel(
  sql: postgres.Sql,
  runId: string,
  kind: "best" | "final",
  epoch: number,
): Promise<void> {
  const model = {
    format: "layers-model",
    generatedBy: "keras v2.15.0",
    convertedBy: "test",
    modelTopology: { class_name: "Functional", config: { layers: [] } },
    weightSpecs: [{ name: "dense/kernel", shape: [5 * 1024 * 256], dtype: "float32" }],
    metadata: {
      runId,
      runName: null,
      dataset: "synthetic",
      classNames: ["a", "b"],
      preprocessing: { scale: 1 / 255, shape: [1, 1, 2], mean: [0.25, 0.5] },
    },
  };
  await sql`insert into run_models (run_id, weights_kind, epoch, val_acc, val_loss, test_acc, test_loss, model, weights, attempt)
    values (${runId}, ${kind}, ${epoch}, 0.9, 0.3, 0.88, 0.35, ${JSON.stringify(model)}::jsonb,
      decode(repeat('ab', 4 * 1024 * 1024) || repeat('cd', 1024 * 1024), 'hex'), 1)`;
}

/** Moves a queued run to running the way a claim does (lease fields set), for cancel tests. */
export async function markRunning(sql: postgres.Sql, runId: string): Promise<void> {
  await sql`update runs set state = 'running', attempt = attempt + 1, lease_token = gen_random_uuid(),
    worker_id = 'test-worker', lease_expires_at = now() + interval '30 s', started_at = now() where id = ${runId}`;
}

/** Ends a running run (succeeded or failed), bypassing the queue's fencing. */
export async function finishRun(
  sql: postgres.Sql,
  runId: string,
  state: "succeeded" | "failed",
): Promise<void> {
  await sql`update runs set state = ${state}, finished_at = now(), lease_token = null,
    lease_expires_at = null where id = ${runId}`;
}

/**
 * A Deno test that uses the shared pools: postgres.js opens and keeps sockets across tests, which the
 * per-test resource and op sanitizers would report as leaks. The pools are closed in afterAll.
 */
export function dbTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, sanitizeOps: false, sanitizeResources: false, fn });
}

/** The test's API, started once per file and closed after its last test. */
export function useTestApi(options: Partial<AppOptions> = {}): () => TestApi {
  let api: TestApi | undefined;
  Deno.test.beforeAll(async () => {
    api = await startTestApi(options);
  });
  Deno.test.afterAll(async () => {
    await api?.close();
  });
  return () => {
    if (api === undefined) throw new Error("the test API is not started (beforeAll did not run)");
    return api;
  };
}

/** Takes a queued run through running to succeeded with stored best and final models of those epochs. */
export async function succeedWithModels(sql: postgres.Sql, runId: string, bestEpoch: number, finalEpoch: number): Promise<void> {
  await markRunning(sql, runId);
  await storeRunModel(sql, runId, "best", bestEpoch);
  await storeRunModel(sql, runId, "final", finalEpoch);
  await finishRun(sql, runId, "succeeded");
}
