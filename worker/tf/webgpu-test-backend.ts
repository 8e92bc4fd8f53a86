// Test helper: the `webgpu` backend on SwiftShader's Vulkan (CPU) beside the stock `cpu` backend in one
// process, and a way to run the same computation on each. Not a test file itself.
import * as tf from "@tensorflow/tfjs";
import { startWebgpuBackend } from "./webgpu-backend.ts";
import { parseWebgpuDriver } from "./webgpu-adapter.ts";

let ready: Promise<string | false> | undefined;

/**
 * Starts webgpu once (SwiftShader unless WEBGPU_DRIVER=system) and returns false, or the reason why no
 * adapter could be had, for `test(name, { skip })`. The cpu backend stays registered beside it.
 */
export function webgpuSkipReason(): Promise<string | false> {
  ready ??= (async () => {
    try {
      await startWebgpuBackend(tf, { driver: parseWebgpuDriver(process.env.WEBGPU_DRIVER || "swiftshader"), requireRealGpu: false });
      return false as const;
    } catch (e) {
      const msg = (e as Error).message.split("\n")[0]!;
      return `no WebGPU adapter could be had (${/Cannot find (module|package)/.test(msg) ? "the optional packages webgpu / @sparticuz/chromium are not installed" : msg})`;
    }
  })();
  return ready;
}

/** Runs f on `backend` and returns its output values (float64 copies, read asynchronously), disposing everything. */
export async function runOnAsync(backend: "webgpu" | "wasm" | "cpu", f: () => tf.Tensor | tf.Tensor[]): Promise<Float64Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const list = Array.isArray(outs) ? outs : [outs];
  const values = await Promise.all(list.map(async (t) => Float64Array.from(await t.data())));
  for (const t of list) t.dispose();
  return values;
}
