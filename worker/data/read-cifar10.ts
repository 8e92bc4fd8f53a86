/**
 * Reads the CIFAR-10 binary files from a directory: either the directory itself holds
 * `data_batch_1..5.bin` and `test_batch.bin`, or its `cifar-10-batches-bin/` (as the archive unpacks).
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  CIFAR10_RECORDS_PER_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, concatImageSets, parseCifar10Batch,
  type ImageSet,
} from "./cifar10-format.ts";

export const CIFAR10_BATCHES_DIR = "cifar-10-batches-bin";

export interface Cifar10 {
  train: ImageSet;
  test: ImageSet;
}

/** The folder that holds the .bin files, or null when neither `dir` nor `dir/cifar-10-batches-bin` does. */
export async function findCifar10Files(dir: string): Promise<string | null> {
  for (const candidate of [join(dir, CIFAR10_BATCHES_DIR), dir]) {
    const ok = await Promise.all(
      [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].map((f) => stat(join(candidate, f)).then((s) => s.isFile(), () => false)),
    );
    if (ok.every(Boolean)) return candidate;
  }
  return null;
}

/** `recordsPerFile` is 10,000 for the real files; tests write smaller ones. */
export async function readCifar10(dir: string, recordsPerFile = CIFAR10_RECORDS_PER_FILE): Promise<Cifar10> {
  const where = await findCifar10Files(dir);
  if (where === null) {
    throw new Error(
      `CIFAR-10 not found in ${dir} (looked for ${CIFAR10_TRAIN_FILES.join(", ")}, ${CIFAR10_TEST_FILE} there and in ` +
        `${join(dir, CIFAR10_BATCHES_DIR)}); run \`npm run data:cifar10\` or set CIFAR10_DIR`,
    );
  }
  const read = async (f: string) =>
    parseCifar10Batch(await readFile(join(where, f)), { file: join(where, f), expectedRecords: recordsPerFile });
  const train = concatImageSets(await Promise.all(CIFAR10_TRAIN_FILES.map(read)));
  const test = await read(CIFAR10_TEST_FILE);
  return { train, test };
}
