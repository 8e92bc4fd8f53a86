import type { RunSpec } from "../../shared/run-spec.ts";
import { exportRunModel, importRunWeights, type ModelSnapshot } from "../model/export-run-model.ts";
import type { ClaimedRun } from "../../shared/queue/queue-types.ts";
import type { RunModelWrite } from "../../shared/queue/save-run-model.ts";
import type { ModelSink } from "../train/train-run.ts";
import type { TrainerHooks } from "./trainer.ts";

/**
 * The training loop's {@link ModelSink} for a claimed run: each snapshot becomes the exported
 * model.json parts and Keras-ordered weight bytes (worker/model/export-run-model.ts), written through
 * the runner's fenced hooks into `run_models`, where every API instance reads them.
 *
 * @example
 * const models = runModelSink(run, spec, hooks);
 * await trainRun(tf, spec, { data, models, ... });
 */
export function runModelSink(
  run: Pick<ClaimedRun, "runId" | "name">,
  spec: RunSpec,
  hooks: Required<Pick<TrainerHooks, "saveModel" | "loadModel">>,
): ModelSink {
  const info = { runId: run.runId, runName: run.name, l2: spec.optimizer.l2, dataset: spec.data.dataset };
  const write = (weights: RunModelWrite["weights"], s: ModelSnapshot): RunModelWrite => ({
    weights,
    epoch: s.epoch,
    valAcc: s.valAcc,
    valLoss: s.valLoss,
    ...exportRunModel(s, info),
  });
  return {
    saveBest: (s) => hooks.saveModel(write("best", s)),
    loadBest: async (layers) => {
      const row = await hooks.loadModel("best");
      return row === null ? null : { epoch: row.epoch, weights: importRunWeights(layers, row.data) };
    },
    saveFinal: (s, test) => hooks.saveModel(write("final", s), test === null ? {} : { own: test.final, best: test.best }),
  };
}
