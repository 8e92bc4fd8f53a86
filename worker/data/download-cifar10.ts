/**
 * Downloads, verifies and unpacks the CIFAR-10 binary archive into a directory.
 *
 * The download goes to `<dir>/cifar-10-binary.tar.gz.part` and resumes from its length with an HTTP
 * Range request when run again ({@link downloadVerified}). Only after the md5 matches is it unpacked
 * (gunzip + tar, in-process) into a temporary folder that is renamed to `<dir>/cifar-10-batches-bin` in
 * one step, so a reader never sees a half-unpacked data set; a download whose md5 does not match is
 * deleted.
 *
 * @example
 * await downloadCifar10({ dir: ".data/cifar10", onProgress: (p) => bar.update(p) });
 */
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { CIFAR10_RECORDS_PER_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, recordBytes } from "./cifar10-format.ts";
import { DownloadError, type DownloadProgress, downloadVerified } from "./download-verified.ts";
import { CIFAR10_BATCHES_DIR, findCifar10Files } from "./read-cifar10.ts";
import { readTar } from "./tar.ts";

export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
export const CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
export const CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz";

export interface DownloadCifar10Options {
  dir: string;
  url?: string;
  md5?: string;
  /** Expected records per file when checking the unpacked files (10,000; tests use fewer). */
  recordsPerFile?: number;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** For tests: the fetch to use. */
  fetch?: typeof fetch;
}

export interface DownloadResult {
  /** The folder holding the .bin files. */
  path: string;
  /** False when the files were already there. */
  downloaded: boolean;
  resumedFrom: number;
}

export async function downloadCifar10(options: DownloadCifar10Options): Promise<DownloadResult> {
  const { dir } = options;
  const url = options.url ?? CIFAR10_URL;
  const md5 = (options.md5 ?? CIFAR10_MD5).toLowerCase();
  const recordsPerFile = options.recordsPerFile ?? CIFAR10_RECORDS_PER_FILE;
  const progress = options.onProgress ?? (() => {});

  const present = await findCifar10Files(dir);
  if (present !== null && (await filesHaveExpectedSizes(present, recordsPerFile))) {
    return { path: present, downloaded: false, resumedFrom: 0 };
  }
  await mkdir(dir, { recursive: true });
  const part = join(dir, `${CIFAR10_ARCHIVE}.part`);

  // 1. Download (resuming a previous partial download) and verify.
  const { resumedFrom } = await downloadVerified({
    url,
    part,
    md5,
    onProgress: progress,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

  // 2. Unpack into a temporary folder, check it, then move it into place in one rename.
  const tmp = join(dir, `.unpack-${process.pid}-${Date.now()}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    let unpacked = 0;
    await pipeline(createReadStream(part), createGunzip(), async (source: AsyncIterable<Uint8Array>) => {
      await readTar(source, async (entry) => {
        const target = join(tmp, entry.name);
        if (entry.type === "directory") {
          await mkdir(target, { recursive: true });
          return null;
        }
        await mkdir(dirname(target), { recursive: true });
        const fh = await open(target, "w");
        return {
          write: async (chunk) => {
            await fh.write(chunk);
            unpacked += chunk.length;
            progress({ phase: "unpack", bytes: unpacked, totalBytes: null, resumedFrom });
          },
          end: async () => {
            await fh.sync();
            await fh.close();
          },
        };
      });
    });
    const inner = await findCifar10Files(tmp);
    if (inner === null || !(await filesHaveExpectedSizes(inner, recordsPerFile))) {
      throw new DownloadError(
        `${url}: the archive does not hold ${[...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].join(", ")} with ` +
          `${recordsPerFile} records each`,
      );
    }
    const dest = join(dir, CIFAR10_BATCHES_DIR);
    await rm(dest, { recursive: true, force: true });
    await rename(inner, dest);
    await rm(part, { force: true });
    return { path: dest, downloaded: true, resumedFrom };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function filesHaveExpectedSizes(folder: string, recordsPerFile: number): Promise<boolean> {
  const sizes = await Promise.all(
    [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].map((f) => stat(join(folder, f)).then((s) => s.size, () => -1)),
  );
  return sizes.every((s) => s === recordsPerFile * recordBytes(32));
}
