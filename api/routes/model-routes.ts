import { z } from "zod";
import {
  MODEL_WEIGHTS,
  type ModelWeights,
  modelJson,
  modelJsonSchema,
  parseShardName,
  shardFiles,
} from "../../shared/model-artifact.ts";
import { AppError } from "../app-error.ts";
import type { RouteDeps } from "../create-app.ts";
import { findRunModel, pruneRunModel, readRunModelShard, type StoredRunModel } from "../db/run-models-repo.ts";
import { isTerminalState, type RunState } from "../../shared/run-states.ts";
import { type AppContext, type Router, uuidParam } from "../http/router.ts";

const weightsParam = z.enum(MODEL_WEIGHTS).describe(
  "best: the weights of the epoch with the best val_acc; final: the last epoch's",
);
const modelQuerySchema = z.strictObject({ weights: weightsParam.default("best") });
/** tf.loadLayersModel appends model.json's query string to each shard URL: accepted, and must agree. */
const shardQuerySchema = z.strictObject({ weights: weightsParam.optional() });

const pruneQuerySchema = z.strictObject({
  weights: z.enum([...MODEL_WEIGHTS, "all"]).default("all").describe("which stored weights to prune: best, final or all"),
});
const pruneResultSchema = z.strictObject({
  runId: z.uuid(),
  pruned: z.array(z.strictObject({
    weights: z.enum(MODEL_WEIGHTS),
    epoch: z.number().int(),
    freedBytes: z.number().int().describe("0 when these weights were pruned already"),
  })),
}).describe("The weights set to null, per kind the run had stored; its figures stay");

const GONE_DOC = { description: "The run's weights of that kind were pruned (README, \"Trained models\"); its figures remain" };

const CONFLICT_DOC = {
  description: "The run has not succeeded (queued, running, failed or cancelled): its model is served once it has",
};

/**
 * A succeeded run's trained network as a TensorFlow.js LayersModel with a Keras topology:
 * `tf.loadLayersModel(url, { requestInit: { headers: { Authorization } } })` loads it straight from
 * here (the shard paths in model.json are relative to it). Only succeeded runs: a run still training
 * changes its best weights between the model.json and the shard requests, and a failed or cancelled
 * one never reached its last epoch; both answer 409 naming the state.
 */
export function modelRoutes(router: Router, deps: RouteDeps): void {
  router.add({
    method: "get",
    path: "/v1/runs/:id/model/model.json",
    operationId: "getRunModel",
    summary: "A succeeded run's network: model.json of a Keras-topology TensorFlow.js LayersModel",
    description:
      "Load it with `tf.loadLayersModel(url, { requestInit: { headers: { Authorization: 'Bearer …' } } })`, or " +
      "download it with its shards (`weightsManifest[0].paths`, relative to this URL) and turn it into a Keras .h5 " +
      "with `tensorflowjs_converter --input_format=tfjs_layers_model --output_format=keras model.json model.h5`. " +
      "`userDefinedMetadata` holds the epoch, its val_acc/val_loss, the test-set figures, the class names and the " +
      "preprocessing (x/255 − the training subset's per-pixel mean, HWC).",
    tag: "runs",
    scope: "read",
    query: modelQuerySchema,
    responses: {
      200: { description: "model.json", schema: modelJsonSchema },
      404: { description: "No such run, or the run stored no model (TRAINER=fake)" },
      409: CONFLICT_DOC,
      410: GONE_DOC,
    },
  }, async (c, { query }) => {
    const id = uuidParam(c, "id", "run");
    const model = await requireModel(deps, id, query.weights);
    c.header("Cache-Control", "private, no-cache");
    return c.json(modelJson(model.stored, model.byteLength, {
      weights: query.weights,
      epoch: model.epoch,
      valAcc: model.valAcc,
      valLoss: model.valLoss,
      testAcc: model.testAcc,
      testLoss: model.testLoss,
    }), 200);
  });

  router.add({
    method: "get",
    path: "/v1/runs/:id/model/:shard",
    operationId: "getRunModelShard",
    summary: "One weight shard of a run's model (`best-shard1of2.bin`, as model.json names it)",
    tag: "runs",
    scope: "read",
    query: shardQuerySchema,
    responses: {
      200: { description: "float32 little-endian weight bytes", alternatives: ["application/octet-stream"] },
      400: { description: "`weights` disagrees with the shard's name" },
      404: { description: "No such run, shard or stored model" },
      409: CONFLICT_DOC,
      410: GONE_DOC,
    },
  }, async (c, { query }) => {
    const id = uuidParam(c, "id", "run");
    const name = c.req.param("shard") ?? "";
    const shard = parseShardName(name);
    if (shard === null) {
      throw new AppError("not_found", `run ${id} has no model file ${JSON.stringify(name)}; model.json lists its shards`);
    }
    if (query.weights !== undefined && query.weights !== shard.weights) {
      throw new AppError("bad_request", `weights=${query.weights} disagrees with the shard ${name}`, {
        issues: [{ path: "weights", message: `expected ${shard.weights} for ${name}, found ${query.weights}` }],
      });
    }
    const found = await readRunModelShard(deps.sql, id, shard.weights, shard.index);
    if (found === null) throw new AppError("not_found", `run ${id} does not exist`);
    requireSucceeded(id, found.state);
    if (found.pruned) throw pruned(id, shard.weights);
    if (found.byteLength === null || found.part === null) throw noModel(id, shard.weights);
    const files = shardFiles(shard.weights, found.byteLength);
    const file = files[shard.index];
    if (files.length !== shard.count || file === undefined || found.part.byteLength !== file.length) {
      throw new AppError("not_found", `run ${id}'s ${shard.weights} weights have ${files.length} shards, not ${shard.count}`);
    }
    return shardResponse(c, found.part);
  });

  modelPruneRoute(router, deps);
}

/** DELETE /v1/runs/:id/model: an admin frees a finished run's weights (the SQL for many is in the README). */
function modelPruneRoute(router: Router, deps: RouteDeps): void {
  router.add({
    method: "delete",
    path: "/v1/runs/:id/model",
    operationId: "pruneRunModel",
    summary: "Prune a finished run's stored weights (its metrics and test figures stay)",
    description:
      "Frees the database space of a run's trained network (2 × 4 bytes per parameter: 13.4 MB at depth 56). " +
      "Its model URLs then answer 410. For many runs at once, README \"Trained models\" gives the SQL.",
    tag: "runs",
    scope: "admin",
    query: pruneQuerySchema,
    responses: {
      200: { description: "What was pruned", schema: pruneResultSchema },
      404: { description: "No such run, or it stored no model" },
      409: { description: "The run is not finished: its worker may still write its best weights" },
    },
  }, async (c, { query }) => {
    const id = uuidParam(c, "id", "run");
    const kinds = query.weights === "all" ? MODEL_WEIGHTS : [query.weights];
    const result = await pruneRunModel(deps.sql, id, kinds);
    if (result === null) throw new AppError("not_found", `run ${id} does not exist`);
    if (!isTerminalState(result.state)) {
      throw new AppError("conflict", `run ${id} is ${result.state}: its weights can be pruned once it has finished`);
    }
    if (result.pruned.length === 0) throw noModel(id, query.weights === "all" ? "best or final" : query.weights);
    deps.log("info", "model weights pruned", {
      requestId: c.get("requestId"), runId: id, weights: result.pruned.map((p) => p.weights),
      freedBytes: result.pruned.reduce((a, p) => a + p.freedBytes, 0),
    });
    return c.json({ runId: id, pruned: result.pruned }, 200);
  });
}

async function requireModel(deps: RouteDeps, id: string, weights: ModelWeights): Promise<StoredRunModel> {
  const found = await findRunModel(deps.sql, id, weights);
  if (found === null) throw new AppError("not_found", `run ${id} does not exist`);
  requireSucceeded(id, found.state);
  if (found.pruned) throw pruned(id, weights);
  if (found.model === null) throw noModel(id, weights);
  return found.model;
}

function requireSucceeded(id: string, state: RunState): void {
  if (state === "succeeded") return;
  throw new AppError(
    "conflict",
    `run ${id} is ${state}: its model is served once the run has succeeded ` +
      (state === "queued" || state === "running" ? "(its last epoch is still to come)" : "(it never completed its schedule)"),
  );
}

function noModel(id: string, weights: string): AppError {
  return new AppError("not_found", `run ${id} has no stored ${weights} model (its worker did not export one, e.g. TRAINER=fake)`);
}

function pruned(id: string, weights: ModelWeights): AppError {
  return new AppError("gone", `run ${id}'s ${weights} weights were pruned from the database; its metrics and test figures remain`);
}

function shardResponse(c: AppContext, bytes: Uint8Array): Response {
  // The view as it came from the driver: a Response sends only the view's bytes, no 4 MiB copy.
  return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
    "Content-Type": "application/octet-stream",
    "Cache-Control": "private, no-cache",
  });
}
