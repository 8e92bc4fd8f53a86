import { z } from "zod";
import { sha256Hex } from "../../shared/sha256-hex.ts";
import {
  runListQuerySchema,
  runListSchema,
  runMetricsSchema,
  runViewSchema,
} from "../../shared/api-schemas.ts";
import { type RunSpec, runSpecSchema } from "../../shared/run-spec.ts";
import { cancelRun } from "../../shared/queue/cancel-run.ts";
import { AppError } from "../app-error.ts";
import type { RouteDeps } from "../create-app.ts";
import { createRun, getRun, listRuns, runExists, runMetrics } from "../db/runs-repo.ts";
import { acceptsCsv, toCsv } from "../http/csv.ts";
import { type Router, uuidParam } from "../http/router.ts";
import { canonicalJson } from "../http/canonical-json.ts";
import { validateSpec } from "../validate-spec.ts";

const anyJson = z.unknown();
const runDoc = { description: "The run", schema: runViewSchema };

/** Visible ASCII, as the IETF Idempotency-Key draft's examples use; long enough for any UUID or hash. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function runsRoutes(router: Router, deps: RouteDeps): void {
  const { db } = deps;

  router.add({
    method: "post",
    path: "/v1/runs",
    operationId: "createRun",
    summary: "Submit a run",
    description:
      "The body is a run spec (only `schedule` is required); the run stores it fully defaulted. With an " +
      "`Idempotency-Key`, repeating the request returns the same run (200, `Idempotent-Replayed: true`); the " +
      "same key with a different spec is 409.",
    tag: "runs",
    scope: "submit",
    body: anyJson,
    bodyDoc: runSpecSchema,
    headers: [{ name: "Idempotency-Key", description: "client-chosen key (1–255 visible ASCII characters)" }],
    responses: {
      201: { description: "Created", schema: runViewSchema },
      200: {
        description: "Replay of an earlier request with the same Idempotency-Key",
        schema: runViewSchema,
      },
      409: { description: "Idempotency-Key reused with a different spec" },
    },
  }, async (c, { body }) => {
    const key = c.req.header("idempotency-key");
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new AppError("bad_request", "Idempotency-Key must be 1 to 255 visible ASCII characters", {
        issues: [{ path: "Idempotency-Key", message: `found ${JSON.stringify(key.slice(0, 40))}` }],
      });
    }
    const spec = validSpec(body);
    const idempotency = key === undefined
      ? undefined
      : { key, requestHash: await sha256Hex(canonicalJson(spec)) };
    const { run, created } = await createRun(db, spec, idempotency);
    if (!created) c.header("Idempotent-Replayed", "true");
    c.header("Location", `/v1/runs/${run.id}`);
    return c.json(run, created ? 201 : 200);
  });

  router.add({
    method: "get",
    path: "/v1/runs",
    operationId: "listRuns",
    summary: "List runs",
    description: "Newest first by default. Pages are keyset-paginated: pass `nextCursor` back as `cursor`.",
    tag: "runs",
    scope: "read",
    query: runListQuerySchema,
    responses: { 200: { description: "A page of runs", schema: runListSchema } },
  }, async (c, { query }) => c.json(await listRuns(db, query), 200));

  router.add({
    method: "get",
    path: "/v1/runs/:id",
    operationId: "getRun",
    summary: "Get a run: spec, state, attempt, worker, timestamps, error and the seed's summary figures",
    tag: "runs",
    scope: "read",
    responses: { 200: runDoc, 404: { description: "No such run" } },
  }, async (c) => c.json(await requireRun(deps, uuidParam(c, "id", "run")), 200));

  router.add({
    method: "get",
    path: "/v1/runs/:id/metrics",
    operationId: "getRunMetrics",
    summary: "Every epoch's metrics of a run (CSV with Accept: text/csv)",
    tag: "runs",
    scope: "read",
    responses: {
      200: {
        description: "Epoch metrics, oldest first",
        schema: runMetricsSchema,
        alternatives: ["text/csv"],
      },
      404: { description: "No such run" },
    },
  }, async (c) => {
    const id = uuidParam(c, "id", "run");
    const epochs = await runMetrics(db, id);
    if (epochs.length === 0 && !(await runExists(db, id))) throw notFound(id);
    if (acceptsCsv(c.req.header("accept"))) {
      const header = [
        "epoch",
        "loss",
        "acc",
        "val_loss",
        "val_acc",
        "lr",
        "wd",
        "seconds",
        "images_per_sec",
        "attempt",
      ];
      const rows = epochs.map((
        e,
      ) => [e.epoch, e.loss, e.acc, e.valLoss, e.valAcc, e.lr, e.wd, e.seconds, e.imagesPerSec, e.attempt]);
      return c.body(toCsv(header, rows), 200, { "Content-Type": "text/csv; charset=utf-8" });
    }
    return c.json({ runId: id, epochs }, 200);
  });

  router.add({
    method: "post",
    path: "/v1/runs/:id/cancel",
    operationId: "cancelRun",
    summary: "Cancel a run",
    description:
      "A queued run ends `cancelled` at once (200). A running run gets `cancelRequestedAt` and its worker is " +
      "notified (NOTIFY run_cancel); it stops at the next batch boundary (202). A finished run is 409.",
    tag: "runs",
    scope: "submit",
    responses: {
      200: { description: "Cancelled", schema: runViewSchema },
      202: { description: "Cancel requested; the worker stops at its next batch", schema: runViewSchema },
      404: { description: "No such run" },
      409: { description: "The run has already finished" },
    },
  }, async (c) => {
    const id = uuidParam(c, "id", "run");
    const outcome = await cancelRun(deps.sql, id);
    if (outcome === "not_found") throw notFound(id);
    const run = await requireRun(deps, id);
    if (outcome === "cancelled") return c.json(run, 200);
    if (outcome === "requested" || (run.state === "running" && run.cancelRequestedAt !== null)) {
      return c.json(run, 202);
    }
    throw new AppError(
      "conflict",
      `run ${id} is ${run.state}; only a queued or running run can be cancelled`,
    );
  });

  router.add({
    method: "post",
    path: "/v1/runs/:id/retry",
    operationId: "retryRun",
    summary: "Start a new run with the spec of a failed or cancelled one",
    tag: "runs",
    scope: "submit",
    responses: {
      201: { description: "The new run", schema: runViewSchema },
      404: { description: "No such run" },
      409: { description: "The run is not failed or cancelled" },
    },
  }, async (c) => {
    const id = uuidParam(c, "id", "run");
    const old = await requireRun(deps, id);
    if (old.state !== "failed" && old.state !== "cancelled") {
      throw new AppError(
        "conflict",
        `run ${id} is ${old.state}; only a failed or cancelled run can be retried`,
      );
    }
    // Stored specs are parse outputs and so valid inputs; parsing again re-derives anything defaulted.
    const { run } = await createRun(db, validSpec(old.spec), undefined, old.sweepId);
    c.header("Location", `/v1/runs/${run.id}`);
    return c.json(run, 201);
  });
}

function validSpec(body: unknown): RunSpec {
  const parsed = validateSpec(body);
  if (!parsed.ok) {
    throw new AppError("validation_failed", "the run spec is not valid", {
      issues: parsed.issues.map((i) => ({ path: i.path, message: i.message })),
    });
  }
  return parsed.spec;
}

async function requireRun(deps: RouteDeps, id: string) {
  const run = await getRun(deps.db, id);
  if (run === null) throw notFound(id);
  return run;
}

const notFound = (id: string) => new AppError("not_found", `run ${id} does not exist`);
