import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/**
 * The oneDNN addon built by `npm ci` from worker/native (binding.gyp). Every kernel takes the wasm
 * heap's ArrayBuffer (fetch `memory.buffer` fresh on every call: memory growth detaches the old one)
 * and byte offsets of float32 tensors in it (-1 for an absent optional one), then sizes.
 */
export interface NativeAddon {
  /** (x, w, bias|-1, y, n, h, w, ci, co, kh, kw, sh, sw, padTop, padLeft, oh, ow, activation 0|1 (relu)) */
  convForward(heap: ArrayBuffer, ...args: number[]): void;
  /** (dy, w, dx, n, h, w, ci, co, kh, kw, sh, sw, padTop, padLeft, oh, ow) */
  convBackwardData(heap: ArrayBuffer, ...args: number[]): void;
  /** (x, dy, dw, db|-1, n, h, w, ci, co, kh, kw, sh, sw, padTop, padLeft, oh, ow) */
  convBackwardWeights(heap: ArrayBuffer, ...args: number[]): void;
  /** (x, gamma, beta, r, mean, variance, workspace, rows, c, epsilon); workspace: bnReluWorkspaceBytes long */
  bnReluTrain(heap: ArrayBuffer, ...args: number[]): void;
  /** (x, gamma, beta, mean, variance, r, rows, c, epsilon) */
  bnReluInfer(heap: ArrayBuffer, ...args: number[]): void;
  /** (dr, workspace, x, gamma, mean, variance, dx, dGamma, dBeta, rows, c, epsilon): the ReLU mask from bnReluTrain's workspace */
  bnReluGrad(heap: ArrayBuffer, ...args: number[]): void;
  /** Bytes of the ReLU mask (oneDNN's workspace) that bnReluTrain writes for these sizes. */
  bnReluWorkspaceBytes(rows: number, c: number, epsilon: number): number;
  /** (x, rows, c, out) */
  channelSum(heap: ArrayBuffer, ...args: number[]): void;
  /** (a, b, out, count) */
  add(heap: ArrayBuffer, ...args: number[]): void;
  /** (w, g, m, v, wOut, mOut, vOut, count, decay, beta1, beta2, alpha, epsilon) */
  adamw(heap: ArrayBuffer, ...args: number[]): void;
  /** oneDNN's (and our loops') OpenMP thread count. */
  setThreads(n: number): void;
  threads(): number;
  /**
   * Work (≈ floating-point operations) below which a kernel runs on one thread (default 2²²): waking a
   * second thread costs more than it saves there. Tests set 0 to run every multi-threaded path.
   */
  setGrain(work: number): void;
  /** Convolution layout: "nhwc" (default), "blocked" or "plain"; see worker/native/src/conv.cc. */
  setLayout(layout: "nhwc" | "blocked" | "plain"): void;
  layout(): string;
  /** One line per cached convolution primitive: its shape key and oneDNN's implementation name. */
  implementations(): string;
  /** e.g. "2.6.3 (OpenMP)". */
  version(): string;
}

/** Where node-gyp puts the addon. */
const nativeAddonPath = fileURLToPath(new URL("../native/build/Release/resnet_native.node", import.meta.url));

let loaded: NativeAddon | undefined;

/**
 * Loads the addon once; throws an Error that says how to build it when it is missing.
 *
 * @example
 * const addon = loadNativeAddon(); addon.version(); // "2.6.3 (OpenMP)"
 */
export function loadNativeAddon(): NativeAddon {
  if (loaded) return loaded;
  if (!existsSync(nativeAddonPath)) {
    throw new Error(
      `the oneDNN addon is not built (${nativeAddonPath} is missing): install Debian's libdnnl-dev, then run npm ci (or npm run build:native)`,
    );
  }
  loaded = createRequire(import.meta.url)(nativeAddonPath) as NativeAddon;
  return loaded;
}
