import { availableParallelism } from "node:os";
import { type Config, cpuThreads } from "../../shared/config.ts";
import { dataSourcesFromConfig, describeDataEvent, loadRawDataset } from "../data/load-dataset.ts";
import { selectBackend } from "../tf/select-backend.ts";
import { decodeCheckpoint, encodeCheckpoint, type CheckpointStore } from "../train/checkpoint.ts";
import { trainRun } from "../train/train-run.ts";
import { RunFailure } from "./classify-error.ts";
import { runModelSink } from "./run-model-sink.ts";
import type { Trainer } from "./trainer.ts";

/**
 * `TRAINER=real`: the training engine (worker/train/train-run.ts) on the backend chosen by BACKEND,
 * behind the runner's hooks. The run's spec is validated again here (a row written by an older
 * version, or by hand, may not parse), and spec or data problems end the run as its own failure
 * rather than being retried.
 */
export async function createRealTrainer(config: Config, log: (line: string) => void): Promise<Trainer> {
  const backend = await selectBackend(config.BACKEND, {
    log, webgpuDriver: config.WEBGPU_DRIVER, threads: cpuThreads(config, availableParallelism()),
  });
  const sources = dataSourcesFromConfig(config);
  return {
    backend: backend.name,
    device: backend.detail,
    async train(run, spec, hooks) {
      let data;
      try {
        // Fetched on first use: each step goes to the log and, as a durable `data` event, to the stream.
        data = await loadRawDataset(spec.data, sources, (event) => {
          log(`run ${run.runId}: ${spec.data.dataset} data: ${describeDataEvent(event)}`);
          hooks.onDataEvent?.(event);
        });
      } catch (e) {
        // Missing, unfetchable or corrupt data ends the run with its own code instead of a retried crash.
        throw new RunFailure("invalid_data", `Cannot load the ${spec.data.dataset} data: ${(e as Error).message}`);
      }
      const checkpoints: CheckpointStore = {
        load: async () => {
          const bytes = await hooks.loadCheckpoint();
          return bytes === null ? null : decodeCheckpoint(bytes, `checkpoint of run ${run.runId}`);
        },
        save: (c) => hooks.saveCheckpoint(encodeCheckpoint(c), { epochsDone: c.epochsDone, batches: c.partial?.batches ?? 0 }),
      };
      const { saveModel, loadModel } = hooks;
      const result = await trainRun(backend.tf, spec, {
        data,
        checkpoints,
        ...(saveModel && loadModel ? { models: runModelSink(run, spec, { saveModel, loadModel }) } : {}),
        shouldStop: () => hooks.shouldStop(),
        commitEpoch: (m, c) =>
          hooks.onEpochEnd({
            epoch: m.epoch, loss: m.loss, acc: m.acc, valLoss: m.valLoss, valAcc: m.valAcc, lr: m.lr, wd: m.wd,
            seconds: m.seconds, imagesPerSec: m.imagesPerSec,
          }, encodeCheckpoint(c)),
        // Every batch: a step takes seconds, and the runner's publisher decides what to send.
        progressEvery: 1,
        onProgress: (p) =>
          hooks.onProgress?.({ epoch: p.epoch, batch: p.batch, batchesPerEpoch: p.batchesPerEpoch, loss: p.loss, acc: p.acc, lr: p.lr }),
      });
      return { status: result.status };
    },
  };
}

