/**
 * Fetches Fashion-MNIST's four gzipped IDX files into a folder, each md5-verified against the published
 * checksums (the ones torchvision and Zalando's README list; Keras's `fashion_mnist.load_data()` fetches
 * the same four files) before it is renamed into place, so a folder that holds all four holds verified
 * files. A file already there is kept; an interrupted download resumes ({@link downloadVerified}).
 *
 * @example
 * await downloadFashionMnist({ dir: ".data/fashion-mnist", onProgress: (p) => log(p.file, p.bytes) });
 */
import { rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { type DownloadProgress, downloadVerified } from "./download-verified.ts";
import { FASHION_MNIST_FILES, type FashionMnistFile, findFashionMnistFiles } from "./read-fashion-mnist.ts";

/** Zalando's repository, over HTTPS (its S3 website mirror is plain HTTP). */
export const FASHION_MNIST_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/";
export const FASHION_MNIST_MD5: Readonly<Record<FashionMnistFile, string>> = {
  trainImages: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
  trainLabels: "25c81989df183df01b3e8a0aad5dffbe",
  testImages: "bef4ecab320f06d8554ea6380940ec79",
  testLabels: "bb300cfdad3c16e7a12a480ee83cd310",
};

export interface DownloadFashionMnistOptions {
  dir: string;
  /** The folder URL the four file names are appended to. */
  baseUrl?: string;
  md5?: Readonly<Record<FashionMnistFile, string>>;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

export async function downloadFashionMnist(o: DownloadFashionMnistOptions): Promise<{ path: string; downloaded: boolean }> {
  if ((await findFashionMnistFiles(o.dir)) !== null) return { path: o.dir, downloaded: false };
  const base = (o.baseUrl ?? FASHION_MNIST_URL).replace(/\/?$/, "/");
  const md5 = o.md5 ?? FASHION_MNIST_MD5;
  for (const [key, name] of Object.entries(FASHION_MNIST_FILES) as [FashionMnistFile, string][]) {
    const target = join(o.dir, name);
    if (await stat(target).then((s) => s.isFile(), () => false)) continue;
    const part = `${target}.part`;
    await downloadVerified({
      url: new URL(name, base).href,
      part,
      md5: md5[key],
      onProgress: (p) => o.onProgress?.({ ...p, file: name }),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.fetch ? { fetch: o.fetch } : {}),
    });
    await rename(part, target);
  }
  return { path: o.dir, downloaded: true };
}

/**
 * Reads `FASHION_MNIST_MD5`'s form: four md5s, comma-separated, in the order train images, train labels,
 * test images, test labels (tests point the worker at a local server with their own files).
 */
export function parseFashionMnistMd5(text: string): Record<FashionMnistFile, string> {
  const parts = text.split(",").map((s) => s.trim().toLowerCase());
  if (parts.length !== 4 || !parts.every((p) => /^[0-9a-f]{32}$/.test(p))) {
    throw new RangeError(
      `expected four md5s (32 hex digits each) separated by commas, for train images, train labels, test images, test labels; found ${JSON.stringify(text)}`,
    );
  }
  return { trainImages: parts[0]!, trainLabels: parts[1]!, testImages: parts[2]!, testLabels: parts[3]! };
}
