/**
 * Downloads one file to `<part>` and checks its md5: the step every data set's fetch shares (the
 * CIFAR-10 archive, the four Fashion-MNIST files). A `.part` left by an interrupted download is resumed
 * with an HTTP Range request; a download whose md5 does not match is deleted, so the next attempt starts
 * clean instead of resuming garbage. The caller moves the verified file into place (a rename), so a
 * reader never sees a partial or unverified file.
 *
 * @example
 * await downloadVerified({ url, part: "dir/x.gz.part", md5: "8d4f…", onProgress: (p) => bar.update(p) });
 * await rename("dir/x.gz.part", "dir/x.gz");
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface DownloadProgress {
  phase: "download" | "verify" | "unpack";
  bytes: number;
  /** Null when the server does not say. */
  totalBytes: number | null;
  /** Bytes that were already on disk when this download started (a resume). */
  resumedFrom: number;
  /** The file being fetched, when a data set has several. */
  file?: string;
}

export class DownloadError extends Error {
  override name = "DownloadError";
}

export interface DownloadVerifiedOptions {
  url: string;
  /** Where the bytes go (and a previous partial download is resumed from). */
  part: string;
  md5: string;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** For tests: the fetch to use. */
  fetch?: typeof fetch;
}

/** Returns the verified size and how many bytes were resumed from. */
export async function downloadVerified(o: DownloadVerifiedOptions): Promise<{ size: number; resumedFrom: number }> {
  const { url, part } = o;
  const md5 = o.md5.toLowerCase();
  const doFetch = o.fetch ?? fetch;
  const progress = o.onProgress ?? (() => {});
  await mkdir(dirname(part), { recursive: true });

  let have = await stat(part).then((s) => s.size, () => 0);
  const resumedFrom = have;
  const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
  const init: RequestInit = { headers, redirect: "follow" };
  if (o.signal) init.signal = o.signal;
  let res: Response;
  try {
    res = await doFetch(url, init);
  } catch (e) {
    throw new DownloadError(`${url}: cannot connect (${(e as Error).cause ?? (e as Error).message})`, { cause: e });
  }
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
  return { size, resumedFrom };
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

export async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}
