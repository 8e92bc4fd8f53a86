/** The run shared by the kill-and-resume test and its child process. */
import { loadRawDataset } from "../../data/load-dataset.ts";
import { prepareData, type DataOptions } from "../../data/prepare-data.ts";
import type { TrainSpec } from "../train-spec.ts";

export const killResumeData: DataOptions = {
  dataset: "synthetic", trainSize: 240, imageSize: 4, validationSize: 40, stratified: true, seed: 3, shift: 0.1, flip: true,
};

export const killResumeSpec: TrainSpec = {
  name: "kill-resume",
  model: { depth: 11 },
  data: killResumeData,
  optimizer: { alpha: 1e-2, lambda: 0.15, l2: 0 },
  batchSize: 32,
  schedule: "[1e-2, 0]lin[1e-2, 2]cos[1e-3, 4]",
  threshold: 0.5,
};

export async function killResumePreparedData() {
  return prepareData(await loadRawDataset(killResumeData), killResumeData);
}
