/**
 * The CIFAR-10 binary format: records of 1 label byte followed by the image as three planes
 * (R, G, B) of size×size bytes, row-major; 10,000 records of 3,073 bytes per file for the real data
 * set. The synthetic data set uses the same format at any image size, so one parser serves both.
 *
 * @example
 * const batch = parseCifar10Batch(bytes, { file: "data_batch_1.bin", expectedRecords: 10000 });
 * batch.labels[0]; // 0..9
 * batch.images.subarray(0, 3072); // first image, CHW planes
 */
export const CIFAR10_CLASSES = [
  "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
] as const;
export const NUM_CLASSES = 10;
export const CIFAR10_IMAGE_SIZE = 32;
export const CIFAR10_RECORDS_PER_FILE = 10000;
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = "test_batch.bin";

/**
 * Labels and images of a set of records; images are CHW planes, `imageSize`² bytes per channel. Every
 * reader produces this shape: CIFAR-10 and the synthetic set with 3 channels (the default), Fashion-MNIST
 * with 1.
 */
export interface ImageSet {
  imageSize: number;
  /** Planes per image: 3 (R, G, B; the default) or 1 (grey). */
  channels?: number;
  labels: Uint8Array;
  /** N × channels × imageSize × imageSize bytes (R plane, G plane, B plane per image). */
  images: Uint8Array;
}

/** An image set's planes per image (3 unless it says otherwise). */
export const channelsOf = (set: ImageSet): number => set.channels ?? 3;

/** A parse failure that names the file and, where it applies, the record (0-based). */
export class Cifar10FormatError extends Error {
  override name = "Cifar10FormatError";
  constructor(message: string, readonly file: string, readonly record: number | null) {
    super(message);
  }
}

export function recordBytes(imageSize: number): number {
  return 1 + 3 * imageSize * imageSize;
}

export interface ParseOptions {
  /** Named in errors. */
  file: string;
  imageSize?: number;
  /** When set, a file with a different record count is an error (10,000 for the real files). */
  expectedRecords?: number;
}

export function parseCifar10Batch(bytes: Uint8Array, options: ParseOptions): ImageSet {
  const imageSize = options.imageSize ?? CIFAR10_IMAGE_SIZE;
  const { file } = options;
  if (!Number.isInteger(imageSize) || imageSize < 1) {
    throw new RangeError(`imageSize must be a positive integer, got ${imageSize}`);
  }
  const rec = recordBytes(imageSize);
  const whole = Math.floor(bytes.length / rec);
  if (bytes.length % rec !== 0) {
    throw new Cifar10FormatError(
      `${file}: truncated or corrupt: ${bytes.length} bytes is not a whole number of ${rec}-byte records ` +
        `(record ${whole} has only ${bytes.length % rec} bytes)`,
      file,
      whole,
    );
  }
  if (options.expectedRecords !== undefined && whole !== options.expectedRecords) {
    throw new Cifar10FormatError(
      `${file}: expected ${options.expectedRecords} records of ${rec} bytes, found ${whole} (${bytes.length} bytes)`,
      file,
      Math.min(whole, options.expectedRecords),
    );
  }
  if (whole === 0) throw new Cifar10FormatError(`${file}: the file holds no records`, file, null);
  const labels = new Uint8Array(whole);
  const images = new Uint8Array(whole * (rec - 1));
  for (let r = 0; r < whole; r++) {
    const label = bytes[r * rec]!;
    if (label >= NUM_CLASSES) {
      throw new Cifar10FormatError(
        `${file}: record ${r} (byte offset ${r * rec}) has label ${label}; labels must be 0..${NUM_CLASSES - 1}`,
        file,
        r,
      );
    }
    labels[r] = label;
    images.set(bytes.subarray(r * rec + 1, (r + 1) * rec), r * (rec - 1));
  }
  return { imageSize, labels, images };
}

/** The inverse of {@link parseCifar10Batch}: records in the binary format. */
export function encodeCifar10Batch(set: ImageSet): Uint8Array {
  const rec = recordBytes(set.imageSize);
  const n = set.labels.length;
  if (set.images.length !== n * (rec - 1)) {
    throw new RangeError(`encodeCifar10Batch: ${n} labels need ${n * (rec - 1)} image bytes, got ${set.images.length}`);
  }
  const out = new Uint8Array(n * rec);
  for (let r = 0; r < n; r++) {
    out[r * rec] = set.labels[r]!;
    out.set(set.images.subarray(r * (rec - 1), (r + 1) * (rec - 1)), r * rec + 1);
  }
  return out;
}

/** Concatenates image sets of the same image size. */
export function concatImageSets(sets: readonly ImageSet[]): ImageSet {
  const first = sets[0];
  if (first === undefined) throw new RangeError("concatImageSets needs at least one set");
  for (const s of sets) {
    if (s.imageSize !== first.imageSize) throw new RangeError(`cannot concatenate image sizes ${first.imageSize} and ${s.imageSize}`);
    if (channelsOf(s) !== channelsOf(first)) {
      throw new RangeError(`cannot concatenate ${channelsOf(first)}- and ${channelsOf(s)}-channel images`);
    }
  }
  const n = sets.reduce((a, s) => a + s.labels.length, 0);
  const labels = new Uint8Array(n);
  const images = new Uint8Array(sets.reduce((a, s) => a + s.images.length, 0));
  let li = 0, ii = 0;
  for (const s of sets) {
    labels.set(s.labels, li);
    images.set(s.images, ii);
    li += s.labels.length;
    ii += s.images.length;
  }
  return { imageSize: first.imageSize, ...(first.channels !== undefined ? { channels: first.channels } : {}), labels, images };
}
