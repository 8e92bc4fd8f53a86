/**
 * The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type
 * byte (0x08: unsigned bytes, the only type these data sets use), the number of dimensions, each
 * dimension as a big-endian uint32, then the values in row-major order. Labels are an idx1 file
 * `[N]`, images an idx3 file `[N, rows, cols]`.
 *
 * Every check names the file: a truncated download or a corrupt file is an error that says which file
 * and what is wrong, never a silently short data set.
 *
 * @example
 * const { dims, data } = parseIdx(gunzipSync(bytes), "train-images-idx3-ubyte.gz"); // dims [60000, 28, 28]
 */
export class IdxFormatError extends Error {
  override name = "IdxFormatError";
  constructor(message: string, readonly file: string) {
    super(`${file}: ${message}`);
  }
}

export interface IdxArray {
  dims: number[];
  /** The values, row-major (a view into the input). */
  data: Uint8Array;
}

const UBYTE = 0x08;

export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) throw new IdxFormatError(`truncated: ${bytes.length} bytes, not even the 4-byte IDX magic`, file);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new IdxFormatError(`not an IDX file: magic starts 0x${hex(bytes[0]!)}${hex(bytes[1]!)}, expected 0x0000`, file);
  }
  if (bytes[2] !== UBYTE) throw new IdxFormatError(`IDX type 0x${hex(bytes[2]!)} is not 0x08 (unsigned bytes)`, file);
  const ndims = bytes[3]!;
  if (ndims < 1) throw new IdxFormatError(`IDX file with 0 dimensions`, file);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new IdxFormatError(`truncated: ${bytes.length} bytes, the header of ${ndims} dimensions needs ${headerBytes}`, file);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, d) => a * d, 1);
  const have = bytes.length - headerBytes;
  if (have !== count) {
    throw new IdxFormatError(
      `${have < count ? "truncated" : "corrupt"}: the header says [${dims.join(", ")}] = ${count} values, ` +
        `the file holds ${have}`,
      file,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** The inverse of {@link parseIdx} for unsigned bytes (tests and fixtures write IDX files with it). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const count = dims.reduce((a, d) => a * d, 1);
  if (data.length !== count) throw new RangeError(`encodeIdx: dims [${dims.join(", ")}] need ${count} values, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + count);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

const hex = (b: number) => b.toString(16).padStart(2, "0");
