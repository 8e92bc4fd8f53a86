/**
 * Reads Fashion-MNIST (Zalando's 60,000 + 10,000 grey 28×28 article images in 10 classes, the files
 * Keras's `fashion_mnist.load_data()` uses) from a folder of the four IDX files, gzipped (as published,
 * and as Debian's `dataset-fashion-mnist` installs them in /usr/share/datasets/fashion-mnist) or not.
 *
 * How 28×28×1 enters the seed's network: every image is zero-padded by 2 pixels on each side to 32×32
 * with one channel. The ResNet then has CIFAR-10's spatial sizes (32 → 16 → 8 before the pooled head),
 * so Atienza's architecture is unchanged except that the stem convolution takes 1 channel instead of 3;
 * the padding pixels are 0 in every image, so after the per-pixel mean subtraction they are 0 too, and
 * the shift augmentation moves the garment inside a black frame as it would on the raw 28×28 image.
 *
 * @example
 * const { train, test } = await readFashionMnist("/usr/share/datasets/fashion-mnist");
 * train.imageSize; // 32, train.channels: 1, train.labels.length: 60000
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { NUM_CLASSES, type ImageSet } from "./cifar10-format.ts";
import { type IdxArray, IdxFormatError, parseIdx } from "./idx-format.ts";

/** The four files, as published (each also accepted without `.gz`). */
export const FASHION_MNIST_FILES = {
  trainImages: "train-images-idx3-ubyte.gz",
  trainLabels: "train-labels-idx1-ubyte.gz",
  testImages: "t10k-images-idx3-ubyte.gz",
  testLabels: "t10k-labels-idx1-ubyte.gz",
} as const;
export type FashionMnistFile = keyof typeof FASHION_MNIST_FILES;

export const FASHION_MNIST_SIDE = 28;
/** Zero pixels added on each side: 28 + 2·2 = 32, CIFAR-10's size. */
export const FASHION_MNIST_PAD = 2;
export const FASHION_MNIST_IMAGE_SIZE = FASHION_MNIST_SIDE + 2 * FASHION_MNIST_PAD;

/** The paths of the four files in `dir` (gzipped or not), or null when one is missing. */
export async function findFashionMnistFiles(dir: string): Promise<Record<FashionMnistFile, string> | null> {
  const found: Partial<Record<FashionMnistFile, string>> = {};
  for (const [key, name] of Object.entries(FASHION_MNIST_FILES) as [FashionMnistFile, string][]) {
    for (const candidate of [join(dir, name), join(dir, name.replace(/\.gz$/, ""))]) {
      if (await stat(candidate).then((s) => s.isFile(), () => false)) {
        found[key] = candidate;
        break;
      }
    }
    if (found[key] === undefined) return null;
  }
  return found as Record<FashionMnistFile, string>;
}

export async function readFashionMnist(dir: string): Promise<{ train: ImageSet; test: ImageSet }> {
  const files = await findFashionMnistFiles(dir);
  if (files === null) {
    throw new Error(`Fashion-MNIST not found in ${dir} (looked for ${Object.values(FASHION_MNIST_FILES).join(", ")}, gzipped or not)`);
  }
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all(
    [files.trainImages, files.trainLabels, files.testImages, files.testLabels].map(readIdxFile),
  );
  return {
    train: toImageSet(trainImages!, trainLabels!),
    test: toImageSet(testImages!, testLabels!),
  };
}

interface NamedIdx extends IdxArray {
  file: string;
}

async function readIdxFile(file: string): Promise<NamedIdx> {
  let bytes: Uint8Array = await readFile(file);
  if (file.endsWith(".gz")) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new IdxFormatError(`truncated or corrupt gzip data (${(e as Error).message})`, file);
    }
  }
  return { file, ...parseIdx(bytes, file) };
}

/** Checks the shapes and labels, and pads each 28×28 image into the middle of a zeroed 32×32 plane. */
function toImageSet(images: NamedIdx, labels: NamedIdx): ImageSet {
  const imagesFile = images.file, labelsFile = labels.file;
  const [n, rows, cols] = images.dims;
  if (images.dims.length !== 3 || rows !== FASHION_MNIST_SIDE || cols !== FASHION_MNIST_SIDE) {
    throw new IdxFormatError(`expected images of [N, 28, 28], found [${images.dims.join(", ")}]`, imagesFile);
  }
  if (labels.dims.length !== 1) throw new IdxFormatError(`expected labels of [N], found [${labels.dims.join(", ")}]`, labelsFile);
  if (labels.dims[0] !== n) {
    throw new IdxFormatError(`holds ${labels.dims[0]} labels for the ${n} images of ${imagesFile}`, labelsFile);
  }
  const bad = labels.data.findIndex((l) => l >= NUM_CLASSES);
  if (bad >= 0) throw new IdxFormatError(`label ${bad} is ${labels.data[bad]}; labels must be 0..${NUM_CLASSES - 1}`, labelsFile);
  const S = FASHION_MNIST_IMAGE_SIZE, P = FASHION_MNIST_PAD, side = FASHION_MNIST_SIDE;
  const out = new Uint8Array(n! * S * S);
  for (let k = 0; k < n!; k++) {
    for (let r = 0; r < side; r++) {
      const src = k * side * side + r * side;
      out.set(images.data.subarray(src, src + side), k * S * S + (r + P) * S + P);
    }
  }
  return { imageSize: S, channels: 1, labels: Uint8Array.from(labels.data), images: out };
}
