/**
 * Downloads, verifies and unpacks the CIFAR-10 binary archive into a directory.
 *
 * The download goes to `<dir>/cifar-10-binary.tar.gz.part` and resumes from its length with an HTTP
 * Range request when run again. Only after the md5 matches is it unpacked (gunzip + tar, in-process)
 * into a temporary folder that is renamed to `<dir>/cifar-10-batches-bin` in one step, so a reader
 * never sees a half-unpacked data set; a download whose md5 does not match is deleted.
 *
 * @example
 * await downloadCifar10({ dir: ".data/cifar10", onProgress: (p) => bar.update(p) });
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { CIFAR10_RECORDS_PER_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, recordBytes } from "./cifar10-format.ts";
import { CIFAR10_BATCHES_DIR, findCifar10Files } from "./read-cifar10.ts";
import { readTar } from "./tar.ts";

export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
export const CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
export const CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz";

export interface DownloadProgress {
  phase: "download" | "verify" | "unpack";
  bytes: number;
  /** Null when the server does not say. */
  totalBytes: number | null;
  /** Bytes that were already on disk when this download started (a resume). */
  resumedFrom: number;
}

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

export class DownloadError extends Error {
  override name = "DownloadError";
}

export async function downloadCifar10(options: DownloadCifar10Options): Promise<DownloadResult> {
  const { dir } = options;
  const url = options.url ?? CIFAR10_URL;
  const md5 = (options.md5 ?? CIFAR10_MD5).toLowerCase();
  const recordsPerFile = options.recordsPerFile ?? CIFAR10_RECORDS_PER_FILE;
  const doFetch = options.fetch ?? fetch;
  const progress = options.onProgress ?? (() => {});

  const present = await findCifar10Files(dir);
  if (present !== null && (await filesHaveExpectedSizes(present, recordsPerFile))) {
    return { path: present, downloaded: false, resumedFrom: 0 };
  }
  await mkdir(dir, { recursive: true });
  const part = join(dir, `${CIFAR10_ARCHIVE}.part`);

  // 1. Download (resuming a previous partial download).
  let have = await stat(part).then((s) => s.size, () => 0);
  const resumedFrom = have;
  const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
  const init: RequestInit = { headers, redirect: "follow" };
  if (options.signal) init.signal = options.signal;
  const res = await doFetch(url, init);
  let total: number | null = null;
  if (res.status === 416 && have > 0) {
    // The part file is already complete (or longer than the resource): let the md5 decide.
    await res.body?.cancel();
    total = have;
  } else if (res.status === 206 && have > 0) {
    const range = /bytes (\d+)-(\d+)\/(\d+|\*)/.exec(res.headers.get("content-range") ?? "");
    if (!range || Number(range[1]) !== have) {
      await res.body?.cancel();
      throw new DownloadError(`${url}: server answered a Range request for bytes ${have}- with Content-Range ${JSON.stringify(res.headers.get("content-range"))}`);
    }
    total = range[3] === "*" ? null : Number(range[3]);
    await appendBody(res, part, "a", have, total, progress, resumedFrom);
  } else if (res.ok) {
    // 200: the server ignored the Range (or there was none); start over.
    have = 0;
    const len = res.headers.get("content-length");
    total = len === null ? null : Number(len);
    await appendBody(res, part, "w", 0, total, progress, resumedFrom);
  } else {
    await res.body?.cancel();
    throw new DownloadError(`${url}: HTTP ${res.status} ${res.statusText}`);
  }

  // 2. Verify: a wrong archive is deleted, so the next run starts clean instead of resuming garbage.
  const size = (await stat(part)).size;
  if (total !== null && size !== total) {
    throw new DownloadError(`${url}: download incomplete: ${size} of ${total} bytes; run again to resume`);
  }
  progress({ phase: "verify", bytes: size, totalBytes: size, resumedFrom });
  const actual = await md5File(part);
  if (actual !== md5) {
    await rm(part, { force: true });
    throw new DownloadError(
      `${url}: md5 mismatch: expected ${md5}, got ${actual} (${size} bytes); deleted the download, nothing was unpacked`,
    );
  }

  // 3. Unpack into a temporary folder, check it, then move it into place in one rename.
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

async function appendBody(
  res: Response,
  path: string,
  flags: "a" | "w",
  start: number,
  total: number | null,
  progress: (p: DownloadProgress) => void,
  resumedFrom: number,
): Promise<void> {
  if (!res.body) throw new DownloadError(`empty response body from ${res.url}`);
  let bytes = start;
  const counted = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
  counted.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    progress({ phase: "download", bytes, totalBytes: total, resumedFrom });
  });
  const out = createWriteStream(path, { flags });
  // Keep what arrived even if the connection drops: that is what the next run resumes from.
  try {
    await pipeline(counted, out);
  } catch (e) {
    throw new DownloadError(
      `${res.url}: download interrupted after ${bytes}${total === null ? "" : ` of ${total}`} bytes ` +
        `(${(e as Error).message}); run again to resume`,
      { cause: e },
    );
  }
}

async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

async function filesHaveExpectedSizes(folder: string, recordsPerFile: number): Promise<boolean> {
  const sizes = await Promise.all(
    [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].map((f) => stat(join(folder, f)).then((s) => s.size, () => -1)),
  );
  return sizes.every((s) => s === recordsPerFile * recordBytes(32));
}
