/**
 * Child process of the kill-and-resume test: trains the shared run with a file checkpoint store,
 * prints "saved <epochsDone>" after each checkpoint, and from epoch 3 on sleeps between batches so
 * the parent's SIGKILL lands inside epoch 3.
 * Usage: node --import tsx worker/train/test-fixtures/train-child.ts <checkpoint path>
 */
import * as tf from "@tensorflow/tfjs";
import { fileCheckpointStore } from "../checkpoint.ts";
import { trainRun } from "../train-run.ts";
import { killResumePreparedData, killResumeSpec } from "./kill-resume-setup.ts";
import { createTinyModel } from "./tiny-model.ts";

const path = process.argv[2];
if (!path) throw new TypeError("usage: train-child.ts <checkpoint path>");
await tf.setBackend("cpu");
const store = fileCheckpointStore(path);
let epochsSaved = 0;
await trainRun(tf, killResumeSpec, {
  data: await killResumePreparedData(),
  createModel: createTinyModel,
  checkpoints: {
    load: () => store.load(),
    save: async (c) => {
      await store.save(c);
      epochsSaved = c.epochsDone;
      process.stdout.write(`saved ${c.epochsDone}\n`);
    },
  },
  shouldStop: async (): Promise<false> => {
    if (epochsSaved >= 2) await new Promise((r) => setTimeout(r, 200));
    return false;
  },
});
process.stdout.write("done\n");
