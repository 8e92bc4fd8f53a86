// Test helper: one wasm backend (with our kernels) and the stock cpu backend in one process, and a
// way to run the same computation on each. Not a test file itself.
import * as tf from "@tensorflow/tfjs";
import { loadNativeAddon, type NativeAddon } from "./native-addon.ts";
import { type NativeKernels, registerNativeKernels } from "./native-kernels.ts";
import { selectBackend } from "./select-backend.ts";

let ready: Promise<void> | undefined;

/** Initialises wasm (+ training kernels) once; afterwards tf.setBackend switches between the two. */
export function backendsReady(): Promise<void> {
  ready ??= (async () => {
    await selectBackend("wasm", { log: () => {} });
    await tf.setBackend("cpu");
    await tf.ready();
  })();
  return ready;
}

/**
 * Why native tests cannot run here (the addon is not built), or undefined: pass it as node:test's
 * `skip` so the reason is printed.
 */
export const nativeSkipReason: string | undefined = (() => {
  try {
    loadNativeAddon();
    return undefined;
  } catch (e) {
    return `skipped: ${(e as Error).message}`;
  }
})();

let nativeKernels: NativeKernels | undefined;

/**
 * Switches the wasm backend to "native" (our oneDNN kernels registered on it, 2 threads so the
 * multi-threaded paths run) or back to plain "wasm" (the kernels it had before), or to "cpu".
 * Native and wasm share one wasm backend, so the two cannot be active at once.
 */
export function useBackend(backend: "native" | "wasm" | "cpu"): void {
  if (backend === "cpu") {
    tf.setBackend("cpu");
    return;
  }
  tf.setBackend("wasm");
  if (backend === "native" && !nativeKernels) nativeKernels = registerNativeKernels(tf, loadNativeAddon(), { threads: 2 });
  if (backend === "wasm" && nativeKernels) {
    nativeKernels.restore();
    nativeKernels = undefined;
  }
}

/** The addon itself (tests that inspect its primitives); throws when it is not built. */
export function nativeAddon(): NativeAddon {
  return loadNativeAddon();
}

/** Runs f on `backend` and returns its output values (float64 copies), disposing everything. */
export function runOn(backend: "native" | "wasm" | "cpu", f: () => tf.Tensor | tf.Tensor[]): Float64Array[] {
  useBackend(backend);
  const outs = tf.tidy(f);
  const list = Array.isArray(outs) ? outs : [outs];
  const values = list.map((t) => Float64Array.from(t.dataSync()));
  for (const t of list) t.dispose();
  return values;
}

/** ‖a − b‖ / ‖b‖ (0 when both are 0). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`relErr needs equal lengths, got ${a.length} and ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** A convolution test case: NHWC input n×h×w×cin, k×k filter to cout channels, stride s, "same" padding. */
export interface ConvCase {
  n: number; h: number; w: number; cin: number; cout: number; k: number; s: number;
}

/** The shapes, attributes, deterministic data and a label of a conv case, as the kernel tests use them. */
export function convCaseData(c: ConvCase) {
  const xShape = [c.n, c.h, c.w, c.cin];
  const wShape = [c.k, c.k, c.cin, c.cout];
  const dyShape = [c.n, Math.ceil(c.h / c.s), Math.ceil(c.w / c.s), c.cout];
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  return {
    label: `n${c.n} ${c.h}×${c.w} ${c.cin}→${c.cout} ${c.k}×${c.k}/${c.s}`,
    xShape, wShape, dyShape,
    attrs: { strides: [c.s, c.s], pad: "same", dataFormat: "NHWC" },
    x: pseudoRandom(size(xShape), 1), w: pseudoRandom(size(wShape), 2), dy: pseudoRandom(size(dyShape), 3),
  };
}

/** Deterministic values in [-0.5, 0.5): the same inputs on every backend. */
export function pseudoRandom(size: number, seed: number): Float32Array {
  const a = new Float32Array(size);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}
