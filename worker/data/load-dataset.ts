/**
 * The data I/O edge: where a run's data set comes from, fetched on first use.
 *
 * - `cifar10`: CIFAR10_DIR (default DATA_DIR/cifar10); when absent, downloaded, md5-verified and
 *   unpacked there (the code of `npm run data:cifar10`).
 * - `fashion-mnist`: FASHION_MNIST_DIR (default DATA_DIR/fashion-mnist), else Debian's
 *   `dataset-fashion-mnist` in /usr/share/datasets/fashion-mnist, else the four files downloaded and
 *   md5-verified into FASHION_MNIST_DIR.
 * - `synthetic`: generated; its content depends on its sizes only (like a real data set, the same for
 *   every run seed); its test set has a fifth of trainSize images, as the run spec assumes.
 *
 * A fetch runs under a lock file in the target folder, so workers sharing a machine (or a folder)
 * download once: the others wait, then find the files there. Every step is reported to `onEvent` (the
 * worker puts them on the run's stream and in its log). A fetch that fails throws {@link DataFetchError}.
 *
 * @example
 * const raw = await loadRawDataset(spec.data, dataSourcesFromConfig(config), (e) => log(JSON.stringify(e)));
 */
import { join } from "node:path";
import type { Config } from "../../shared/config.ts";
import type { DataEventPayload } from "../../shared/stream-messages.ts";
import { downloadCifar10 } from "./download-cifar10.ts";
import { downloadFashionMnist, type FASHION_MNIST_MD5, parseFashionMnistMd5 } from "./download-fashion-mnist.ts";
import type { DownloadProgress } from "./download-verified.ts";
import type { DataOptions, RawDataset } from "./prepare-data.ts";
import { findCifar10Files, readCifar10 } from "./read-cifar10.ts";
import { FASHION_MNIST_IMAGE_SIZE, findFashionMnistFiles, readFashionMnist } from "./read-fashion-mnist.ts";
import { generateSynthetic } from "./synthetic.ts";
import { withFileLock } from "./with-file-lock.ts";

/** Debian's `dataset-fashion-mnist` installs the four files here. */
export const DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";
/** How each real set's images enter the network (Fashion-MNIST: 28×28 grey, zero-padded to 32×32). */
export const DATASET_INPUT = {
  cifar10: { imageSize: 32, channels: 3 },
  "fashion-mnist": { imageSize: FASHION_MNIST_IMAGE_SIZE, channels: 1 },
} as const;
/** Synthetic defaults as the run spec's: CIFAR-10's shape. */
export const SYNTHETIC_DEFAULTS = { trainSize: 50_000, imageSize: 32 } as const;
/** The lock file a fetch holds, in the data set's folder. */
export const FETCH_LOCK = ".fetch.lock";

export interface DataSources {
  cifar10Dir: string;
  cifar10Url?: string | undefined;
  cifar10Md5?: string | undefined;
  fashionMnistDir: string;
  /** Read-only fallback (Debian's package); set to "" to skip it. */
  fashionMnistSystemDir: string;
  fashionMnistUrl?: string | undefined;
  fashionMnistMd5?: typeof FASHION_MNIST_MD5 | undefined;
}

export function dataSourcesFromConfig(config: Config): DataSources {
  return {
    cifar10Dir: config.CIFAR10_DIR ?? join(config.DATA_DIR, "cifar10"),
    cifar10Url: config.CIFAR10_URL,
    cifar10Md5: config.CIFAR10_MD5,
    fashionMnistDir: config.FASHION_MNIST_DIR ?? join(config.DATA_DIR, "fashion-mnist"),
    fashionMnistSystemDir: config.FASHION_MNIST_SYSTEM_DIR,
    fashionMnistUrl: config.FASHION_MNIST_URL,
    fashionMnistMd5: config.FASHION_MNIST_MD5 === undefined ? undefined : parseFashionMnistMd5(config.FASHION_MNIST_MD5),
  };
}

/** The data set could not be fetched (network, HTTP status, md5, a bad archive): the run's data error. */
export class DataFetchError extends Error {
  override name = "DataFetchError";
  readonly code = "invalid_data" as const;
}

export type DataEvent = DataEventPayload;

/** `sources` may be left out for the synthetic set only. */
export async function loadRawDataset(
  data: DataOptions,
  sources?: DataSources,
  onEvent: (e: DataEvent) => void = () => {},
): Promise<RawDataset> {
  if (data.dataset === "synthetic") {
    const trainSize = data.trainSize ?? SYNTHETIC_DEFAULTS.trainSize;
    const imageSize = data.imageSize ?? SYNTHETIC_DEFAULTS.imageSize;
    const testSize = Math.max(1, Math.round(trainSize / 5));
    return {
      train: generateSynthetic({ size: trainSize, imageSize, seed: 1 }),
      test: generateSynthetic({ size: testSize, imageSize, seed: 2 }),
    };
  }
  if (sources === undefined) throw new TypeError(`loadRawDataset: the ${data.dataset} data set needs its sources`);
  const dir = await locateDataset(data.dataset, sources, onEvent);
  return data.dataset === "cifar10" ? readCifar10(dir) : readFashionMnist(dir);
}

/** The folder to read `dataset` from, fetched (once per folder, under its lock) when none has it. */
export async function locateDataset(
  dataset: "cifar10" | "fashion-mnist",
  sources: DataSources,
  onEvent: (e: DataEvent) => void,
): Promise<string> {
  const { fetchDir, present, fetch } = plan(dataset, sources);
  const found = await present();
  if (found !== null) {
    onEvent({ dataset, phase: "ready", source: found.source, dir: found.dir });
    return found.dir;
  }
  return withFileLock(join(fetchDir, FETCH_LOCK), async () => {
    // Another worker may have fetched it while this one waited for the lock.
    const now = await present();
    if (now !== null) {
      onEvent({ dataset, phase: "ready", source: now.source, dir: now.dir });
      return now.dir;
    }
    const progress = throttledProgress(dataset, onEvent);
    let dir: string;
    try {
      dir = await fetch(progress);
    } catch (e) {
      throw new DataFetchError(`Cannot fetch ${dataset} into ${fetchDir}: ${(e as Error).message}`, { cause: e });
    }
    onEvent({ dataset, phase: "ready", source: "fetched", dir });
    return dir;
  }, { onWait: (holder) => onEvent({ dataset, phase: "waiting", dir: fetchDir, holder }) });
}

interface Plan {
  fetchDir: string;
  present(): Promise<{ dir: string; source: "local" | "system" } | null>;
  fetch(onProgress: (p: DownloadProgress) => void): Promise<string>;
}

function plan(dataset: "cifar10" | "fashion-mnist", s: DataSources): Plan {
  if (dataset === "cifar10") {
    return {
      fetchDir: s.cifar10Dir,
      present: async () => ((await findCifar10Files(s.cifar10Dir)) !== null ? { dir: s.cifar10Dir, source: "local" } : null),
      fetch: async (onProgress) =>
        (await downloadCifar10({
          dir: s.cifar10Dir,
          onProgress,
          ...(s.cifar10Url ? { url: s.cifar10Url } : {}),
          ...(s.cifar10Md5 ? { md5: s.cifar10Md5 } : {}),
        })).path,
    };
  }
  return {
    fetchDir: s.fashionMnistDir,
    present: async () => {
      if ((await findFashionMnistFiles(s.fashionMnistDir)) !== null) return { dir: s.fashionMnistDir, source: "local" };
      if (s.fashionMnistSystemDir !== "" && (await findFashionMnistFiles(s.fashionMnistSystemDir)) !== null) {
        return { dir: s.fashionMnistSystemDir, source: "system" };
      }
      return null;
    },
    fetch: async (onProgress) =>
      (await downloadFashionMnist({
        dir: s.fashionMnistDir,
        onProgress,
        ...(s.fashionMnistUrl ? { baseUrl: s.fashionMnistUrl } : {}),
        ...(s.fashionMnistMd5 ? { md5: s.fashionMnistMd5 } : {}),
      })).path,
  };
}

/** Phase changes always; download progress at most every 2 s (events are durable rows). */
function throttledProgress(dataset: "cifar10" | "fashion-mnist", onEvent: (e: DataEvent) => void) {
  let last = "";
  let lastAt = 0;
  return (p: DownloadProgress) => {
    const key = `${p.phase}:${p.file ?? ""}`;
    const now = Date.now();
    if (key === last && now - lastAt < 2000) return;
    last = key;
    lastAt = now;
    onEvent({
      dataset,
      phase: p.phase,
      bytes: p.bytes,
      totalBytes: p.totalBytes,
      ...(p.file !== undefined ? { file: p.file } : {}),
    });
  };
}

/** One log line for a data event: "download train-images-idx3-ubyte.gz 12.0 of 26.4 MB". */
export function describeDataEvent(e: DataEvent): string {
  const mb = (b: number) => (b / 1e6).toFixed(1);
  switch (e.phase) {
    case "ready":
      return `ready in ${e.dir} (${e.source === "fetched" ? "fetched" : e.source === "system" ? "system package" : "found"})`;
    case "waiting":
      return `waiting for ${e.holder ?? "another process"} to fetch it into ${e.dir}`;
    default:
      return `${e.phase}${e.file ? ` ${e.file}` : ""} ${mb(e.bytes ?? 0)}${e.totalBytes ? ` of ${mb(e.totalBytes)}` : ""} MB`;
  }
}
