/**
 * Small Fashion-MNIST-format files (gzipped IDX, as published) and a local HTTP server for them that
 * counts requests per file and can answer slowly, for the fetch-on-first-use tests.
 *
 * @example
 * const files = makeFashionMnistFiles({ train: 200, test: 50 });
 * const server = await serveFiles(files.bytes, { delayMs: 300 });
 * // FASHION_MNIST_URL=server.url FASHION_MNIST_MD5=files.md5Env
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { encodeIdx } from "../idx-format.ts";
import { FASHION_MNIST_FILES } from "../read-fashion-mnist.ts";
import { generateSynthetic } from "../synthetic.ts";

export interface FashionMnistFixture {
  /** File name → gzipped bytes. */
  bytes: Record<string, Uint8Array>;
  /** The FASHION_MNIST_MD5 value for these files. */
  md5Env: string;
}

/** Grey 28×28 images (the synthetic set's red plane: stripes and brightness differ by class). */
export function makeFashionMnistFiles(sizes: { train: number; test: number }): FashionMnistFixture {
  const set = (size: number, seed: number) => {
    const s = generateSynthetic({ size, imageSize: 28, seed });
    const images = new Uint8Array(size * 784);
    for (let k = 0; k < size; k++) images.set(s.images.subarray(k * 3 * 784, k * 3 * 784 + 784), k * 784);
    return { images: encodeIdx([size, 28, 28], images), labels: encodeIdx([size], s.labels) };
  };
  const train = set(sizes.train, 1), test = set(sizes.test, 2);
  const raw: Record<string, Uint8Array> = {
    [FASHION_MNIST_FILES.trainImages]: train.images,
    [FASHION_MNIST_FILES.trainLabels]: train.labels,
    [FASHION_MNIST_FILES.testImages]: test.images,
    [FASHION_MNIST_FILES.testLabels]: test.labels,
  };
  const bytes = Object.fromEntries(Object.entries(raw).map(([name, b]) => [name, new Uint8Array(gzipSync(b))]));
  const md5 = (name: string) => createHash("md5").update(bytes[name]!).digest("hex");
  const md5Env = [FASHION_MNIST_FILES.trainImages, FASHION_MNIST_FILES.trainLabels, FASHION_MNIST_FILES.testImages, FASHION_MNIST_FILES.testLabels]
    .map(md5).join(",");
  return { bytes, md5Env };
}

export interface FileServer {
  /** The folder URL (ends with /). */
  url: string;
  /** Requests per path, e.g. { "/train-images-idx3-ubyte.gz": 1 }. */
  requests: Record<string, number>;
  close(): Promise<void>;
}

/**
 * Serves `files` at /<name>; `delayMs` holds each response's body back, and `gate` holds every body
 * until it resolves (so a second fetcher is sure to arrive while the first one is still fetching).
 */
export async function serveFiles(
  files: Record<string, Uint8Array>,
  o: { delayMs?: number; gate?: Promise<void> } = {},
): Promise<FileServer> {
  const requests: Record<string, number> = {};
  const server: Server = createServer((req, res) => {
    const path = req.url ?? "/";
    requests[path] = (requests[path] ?? 0) + 1;
    const body = files[path.slice(1)];
    if (body === undefined) {
      res.writeHead(404).end("not here");
      return;
    }
    res.writeHead(200, { "content-length": body.length });
    void (o.gate ?? Promise.resolve()).then(() => setTimeout(() => res.end(body), o.delayMs ?? 0));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
