/**
 * Training checkpoints: everything a run needs to continue exactly where it stopped (weights,
 * optimizer moments and step count, the augmentation RNG, the epoch/batch position, the partial
 * epoch's sums and the metrics history), a compact binary encoding, and where they are kept.
 *
 * The training loop only sees a {@link CheckpointStore}; {@link fileCheckpointStore} writes one sealed
 * file atomically (temp file, fsync, rename, fsync of the folder), so a crash leaves either the
 * previous checkpoint or the new one, never a torn file, and keeps the one before to fall back to.
 *
 * @example
 * const store = fileCheckpointStore(join(process.env.CHECKPOINT_DIR!, "run-17.ckpt"));
 * await trainRun(tf, spec, { ...deps, checkpoints: store });
 */
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import type { RngState } from "../data/rng.ts";
import { decodeEpochHistory, type EpochMetrics } from "./metrics.ts";
import { CheckpointDamagedError, openCheckpoint, sealCheckpoint } from "./checkpoint-seal.ts";

export interface SavedTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** Sums of an epoch stopped between batches. */
export interface PartialEpoch {
  /** Batches of the epoch already trained. */
  batches: number;
  /** Σ batch loss · batch size, Σ correct, Σ images. */
  lossSum: number;
  correct: number;
  seen: number;
  /** Wall seconds spent in the epoch so far (training only). */
  seconds: number;
}

export interface TrainCheckpoint {
  /** Identifies the spec the run was started with; resuming under another spec is refused. */
  specFingerprint: string;
  /** Completed epochs. */
  epochsDone: number;
  /** Set when the run stopped inside epoch epochsDone + 1. */
  partial: PartialEpoch | null;
  /** Augmentation RNG state at the start of epoch epochsDone + 1 (the epoch's plan is redrawn from it). */
  augmentRng: RngState;
  /** Metrics of the completed epochs, epoch 1 first. */
  history: EpochMetrics[];
  /** Best-so-far, derivable from history; kept for readers of the checkpoint. */
  best: { epoch: number; valAcc: number } | null;
  thresholdEpoch: number | null;
  /** Trainable then non-trainable variables, in the model's order. */
  weights: SavedTensor[];
  optimizer: { iterations: number; m: Float32Array[]; v: Float32Array[] };
}

/** Where a run's checkpoint lives. One store per run; `load` returns null when there is none yet. */
export interface CheckpointStore {
  load(): Promise<TrainCheckpoint | null>;
  save(checkpoint: TrainCheckpoint): Promise<void>;
}

const MAGIC = "RJCKPT01";

/**
 * The bytes are not a checkpoint this version can decode. Bytes that passed the runner's checksum are
 * exactly what was written, so no retry can load them: `code` makes it a run failure, not a crash.
 */
export class CheckpointFormatError extends Error {
  override name = "CheckpointFormatError";
  readonly code = "checkpoint_unloadable";
}

/**
 * Layout: 8-byte magic, uint32 LE header length, JSON header, zero padding to a multiple of 4, then
 * every float32 array back to back (weights, m, v) in the header's order.
 */
export function encodeCheckpoint(c: TrainCheckpoint): Uint8Array {
  const arrays: Float32Array[] = [...c.weights.map((w) => w.values), ...c.optimizer.m, ...c.optimizer.v];
  const header = JSON.stringify({
    ...c,
    weights: c.weights.map((w) => ({ name: w.name, shape: w.shape, length: w.values.length })),
    optimizer: {
      iterations: c.optimizer.iterations,
      m: c.optimizer.m.map((a) => a.length),
      v: c.optimizer.v.map((a) => a.length),
    },
  });
  const headerBytes = new TextEncoder().encode(header);
  const start = align4(12 + headerBytes.length);
  const total = start + arrays.reduce((a, x) => a + x.byteLength, 0);
  const out = new Uint8Array(total);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 12);
  let o = start;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
    o += a.byteLength;
  }
  return out;
}

export function decodeCheckpoint(bytes: Uint8Array, what = "checkpoint"): TrainCheckpoint {
  if (bytes.length < 12 || !hasCheckpointMagic(bytes)) {
    throw new CheckpointFormatError(`${what}: not a checkpoint (bad magic)`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (12 + headerLength > bytes.length) throw new CheckpointFormatError(`${what}: truncated header`);
  let header: Omit<TrainCheckpoint, "weights" | "optimizer"> & {
    weights: { name: string; shape: number[]; length: number }[];
    optimizer: { iterations: number; m: number[]; v: number[] };
  };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  } catch (e) {
    throw new CheckpointFormatError(`${what}: corrupt header (${(e as Error).message})`);
  }
  let o = align4(12 + headerLength);
  const need = (header.weights.reduce((a, w) => a + w.length, 0) +
    header.optimizer.m.reduce((a, n) => a + n, 0) + header.optimizer.v.reduce((a, n) => a + n, 0)) * 4;
  if (o + need !== bytes.length) {
    throw new CheckpointFormatError(`${what}: expected ${o + need} bytes, found ${bytes.length} (truncated or corrupt)`);
  }
  // Copy into a fresh buffer at offset 0 (a Node Buffer's slice() is a view into a shared pool).
  const body = new Uint8Array(bytes.subarray(o));
  o = 0;
  const take = (n: number) => {
    const a = new Float32Array(body.buffer, o, n);
    o += n * 4;
    return a;
  };
  const weights = header.weights.map((w) => ({ name: w.name, shape: w.shape, values: take(w.length) }));
  const m = header.optimizer.m.map(take);
  const v = header.optimizer.v.map(take);
  return { ...header, history: decodeEpochHistory(header.history), weights, optimizer: { iterations: header.optimizer.iterations, m, v } };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * A checkpoint file at `path`, sealed with its SHA-256 (checkpoint-seal.ts) and replaced
 * atomically on every save; the one before is kept as `path.prev`. A load that finds the newest damaged
 * (truncated, overwritten, undecodable) says so through `onDamaged` and falls back to the one before;
 * with both damaged it starts over (null), as a worker's run does. A file written before checkpoints
 * were sealed still loads.
 */
export function fileCheckpointStore(
  path: string,
  opts: { onDamaged?: (message: string) => void } = {},
): CheckpointStore & { path: string; clear(): Promise<void> } {
  const previous = `${path}.prev`;
  return {
    path,
    /** Removes both files: the next run starts over. */
    async clear() {
      await Promise.all([path, previous].map((f) => rm(f, { force: true })));
    },
    async load() {
      let damaged = false;
      for (const file of [path, previous]) {
        let bytes: Uint8Array;
        try {
          bytes = await readFile(file);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
          throw e;
        }
        try {
          const payload = hasCheckpointMagic(bytes) ? bytes : openCheckpoint(bytes, file);
          const checkpoint = decodeCheckpoint(payload, file);
          if (damaged) {
            // The damaged newest one goes, so that the next save keeps this one as the one before.
            await rm(path, { force: true });
            opts.onDamaged?.(`resuming from the checkpoint before it, ${file}`);
          }
          return checkpoint;
        } catch (e) {
          if (!(e instanceof CheckpointDamagedError || e instanceof CheckpointFormatError)) throw e;
          damaged = true;
          opts.onDamaged?.((e as Error).message);
        }
      }
      if (damaged) opts.onDamaged?.("no usable checkpoint is left: starting over");
      return null;
    },
    async save(checkpoint) {
      // The current file becomes the previous one first: a crash before the new one is in place
      // leaves the previous one to resume from.
      await rename(path, previous).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "ENOENT") throw e;
      });
      await writeFileAtomic(path, sealCheckpoint(encodeCheckpoint(checkpoint)));
    },
  };
}

/** True when `bytes` start with this encoding's magic (an unsealed checkpoint, as written before seals). */
function hasCheckpointMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && new TextDecoder().decode(bytes.subarray(0, 8)) === MAGIC;
}

/** Writes `bytes` to `path` via a temp file in the same folder, fsync and rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  // A folder made here (a run's first checkpoint) must itself survive a crash: its entry is in its
  // parent, so each new level's parent is synced too, or the rename below could be durable in a folder
  // that is not.
  const created = await mkdir(dir, { recursive: true });
  if (created !== undefined) {
    for (let d = dir; d !== dirname(created); d = dirname(d)) await syncDir(dirname(d));
  }
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  // Make the rename itself durable.
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, "r");
  try {
    await d.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await d.close();
  }
}

/** Keeps encoded checkpoints in memory (tests; callers that persist elsewhere can copy the bytes). */
export function memoryCheckpointStore(): CheckpointStore & { bytes: Uint8Array | null; saves: number } {
  const store = {
    bytes: null as Uint8Array | null,
    saves: 0,
    async load() {
      return store.bytes === null ? null : decodeCheckpoint(store.bytes, "memory checkpoint");
    },
    async save(c: TrainCheckpoint) {
      store.bytes = encodeCheckpoint(c);
      store.saves++;
    },
  };
  return store;
}
