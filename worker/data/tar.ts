/**
 * A small streaming ustar reader (and a writer for tests): enough for the CIFAR-10 archive, with the
 * checks that matter when unpacking a download: header checksums, no paths outside the target, no
 * truncated entries. Regular files and directories are handled; links, devices and pax/GNU metadata
 * entries are skipped (GNU long names are honoured).
 */

export interface TarEntry {
  name: string;
  type: "file" | "directory" | "other";
  size: number;
}

/** Receives one entry's bytes; returned by the `onEntry` callback, or null to skip the entry. */
export interface TarSink {
  write(chunk: Uint8Array): Promise<void> | void;
  end(): Promise<void> | void;
}

export class TarFormatError extends Error {
  override name = "TarFormatError";
}

const BLOCK = 512;

/**
 * Reads a tar stream chunk by chunk and hands each entry's bytes to the sink `onEntry` returns.
 * Throws {@link TarFormatError} on a bad header checksum, an unsafe path, or a stream that ends
 * inside an entry.
 */
export async function readTar(
  source: AsyncIterable<Uint8Array>,
  onEntry: (entry: TarEntry) => Promise<TarSink | null> | TarSink | null,
): Promise<void> {
  let pending: Uint8Array = new Uint8Array(0);
  let header: TarEntry | null = null;
  let sink: TarSink | null = null;
  let remaining = 0; // bytes of the current entry's body still to come
  let padding = 0; // bytes of padding after the body
  let longName: string | null = null;
  let longNameBuf: Uint8Array[] | null = null;
  let ended = false;

  const take = (n: number): Uint8Array => {
    const out = pending.subarray(0, n);
    pending = pending.subarray(n);
    return out;
  };

  for await (const chunk of source) {
    if (ended) continue;
    pending = pending.length === 0 ? chunk : concat(pending, chunk);
    for (;;) {
      if (header !== null) {
        if (remaining > 0) {
          if (pending.length === 0) break;
          const part = take(Math.min(remaining, pending.length));
          remaining -= part.length;
          if (longNameBuf) longNameBuf.push(part.slice());
          else if (sink) await sink.write(part);
          if (remaining > 0) break;
        }
        if (padding > 0) {
          if (pending.length < padding) break;
          take(padding);
          padding = 0;
        }
        if (longNameBuf) {
          longName = decodeString(concat(...longNameBuf));
          longNameBuf = null;
        } else if (sink) {
          await sink.end();
        }
        header = null;
        sink = null;
      }
      if (pending.length < BLOCK) break;
      const block = take(BLOCK);
      if (block.every((b) => b === 0)) {
        // End-of-archive marker (two zero blocks; one is enough to stop).
        ended = true;
        break;
      }
      const entry = parseHeader(block);
      if (entry.typeflag === "L") {
        header = entry.entry;
        longNameBuf = [];
      } else {
        if (longName !== null) {
          entry.entry.name = longName;
          longName = null;
        }
        header = entry.entry;
        if (header.type !== "other") checkPath(header.name);
        sink = header.type === "other" ? null : await onEntry(header);
      }
      remaining = header.size;
      padding = (BLOCK - (header.size % BLOCK)) % BLOCK;
    }
  }
  if (header !== null || (!ended && pending.length > 0)) {
    throw new TarFormatError(
      header !== null
        ? `tar archive ends inside entry ${JSON.stringify(header.name)} (${remaining} of ${header.size} bytes missing)`
        : `tar archive ends inside a header (${pending.length} of ${BLOCK} bytes)`,
    );
  }
}

function parseHeader(block: Uint8Array): { entry: TarEntry; typeflag: string } {
  const stored = parseOctal(block.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  if (stored !== sum) throw new TarFormatError(`tar header checksum mismatch (stored ${stored}, computed ${sum}): corrupt archive`);
  let name = decodeString(block.subarray(0, 100));
  const magic = decodeString(block.subarray(257, 263));
  if (magic.startsWith("ustar")) {
    const prefix = decodeString(block.subarray(345, 500));
    if (prefix) name = `${prefix}/${name}`;
  }
  const size = parseOctal(block.subarray(124, 136));
  const typeflag = String.fromCharCode(block[156]!);
  const type = typeflag === "0" || typeflag === "\0" || typeflag === "7"
    ? "file"
    : typeflag === "5"
    ? "directory"
    : "other";
  return { entry: { name, type, size }, typeflag };
}

function checkPath(name: string): void {
  const parts = name.split("/");
  if (name.startsWith("/") || parts.includes("..") || name.includes("\\") || name.includes("\0")) {
    throw new TarFormatError(`tar entry ${JSON.stringify(name)} would be written outside the target directory`);
  }
}

function parseOctal(field: Uint8Array): number {
  const s = decodeString(field).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`bad octal field in tar header: ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function decodeString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return new TextDecoder().decode(nul === -1 ? b : b.subarray(0, nul));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Builds a ustar archive in memory (tests generate CIFAR-shaped archives with it). */
export function writeTar(entries: readonly { name: string; data?: Uint8Array; directory?: boolean }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    const data = e.data ?? new Uint8Array(0);
    const h = new Uint8Array(BLOCK);
    const put = (s: string, off: number, len: number) => h.set(new TextEncoder().encode(s).subarray(0, len), off);
    if (e.name.length > 100) throw new RangeError(`writeTar: name longer than 100 bytes: ${e.name}`);
    put(e.name, 0, 100);
    put("0000644\0", 100, 8);
    put("0000000\0", 108, 8);
    put("0000000\0", 116, 8);
    put(data.length.toString(8).padStart(11, "0") + "\0", 124, 12);
    put("00000000000\0", 136, 12);
    h[156] = (e.directory ? "5" : "0").charCodeAt(0);
    put("ustar\0", 257, 6);
    put("00", 263, 2);
    h.fill(32, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
    blocks.push(h);
    if (data.length > 0) {
      const padded = new Uint8Array(Math.ceil(data.length / BLOCK) * BLOCK);
      padded.set(data);
      blocks.push(padded);
    }
  }
  blocks.push(new Uint8Array(BLOCK * 2));
  return concat(...blocks);
}
