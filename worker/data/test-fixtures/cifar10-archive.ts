/** A CIFAR-10-shaped archive and a local HTTP server for it (Range, cut connections, 404), for tests. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, encodeCifar10Batch } from "../cifar10-format.ts";
import { writeTar } from "../tar.ts";

export const PER_FILE = 3;

/** An archive laid out like the real one: cifar-10-batches-bin/ with the six .bin files and metadata. */
export function makeArchive(): Uint8Array {
  const file = (k: number) =>
    encodeCifar10Batch({
      imageSize: 32,
      labels: Uint8Array.from({ length: PER_FILE }, (_, i) => (k + i) % 10),
      // Pseudo-random bytes so gzip cannot shrink the archive to nothing (the resume test cuts it).
      images: Uint8Array.from({ length: PER_FILE * 3072 }, (_, i) => (Math.imul(i + 1, 2654435761 + k) >>> 24) & 255),
    });
  return gzipSync(writeTar([
    { name: "cifar-10-batches-bin", directory: true },
    { name: "cifar-10-batches-bin/batches.meta.txt", data: new TextEncoder().encode("airplane\nautomobile\n") },
    ...CIFAR10_TRAIN_FILES.map((f, k) => ({ name: `cifar-10-batches-bin/${f}`, data: file(k) })),
    { name: `cifar-10-batches-bin/${CIFAR10_TEST_FILE}`, data: file(9) },
    { name: "cifar-10-batches-bin/readme.html", data: new TextEncoder().encode("<html></html>") },
  ]));
}

export interface Served {
  url: string;
  requests: { range: string | undefined }[];
  /** Cut the connection after this many body bytes on the next request only. */
  cutNextAfter: number | null;
  ignoreRange: boolean;
  close(): Promise<void>;
}

export async function serve(body: Uint8Array): Promise<Served> {
  const state = { requests: [] as { range: string | undefined }[], cutNextAfter: null as number | null, ignoreRange: false };
  const server: Server = createServer((req, res) => {
    const range = req.headers.range;
    state.requests.push({ range });
    if (req.url !== "/cifar-10-binary.tar.gz") {
      res.writeHead(404).end("not here");
      return;
    }
    let start = 0;
    const m = range && !state.ignoreRange ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { "content-length": body.length - start, "content-range": `bytes ${start}-${body.length - 1}/${body.length}` });
    } else {
      res.writeHead(200, { "content-length": body.length });
    }
    const cut = state.cutNextAfter;
    state.cutNextAfter = null;
    if (cut !== null) {
      res.write(body.subarray(start, start + cut), () => setTimeout(() => res.socket?.destroy(), 20));
    } else {
      res.end(body.subarray(start));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/cifar-10-binary.tar.gz`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  });
}

