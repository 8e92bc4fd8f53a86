import { commonJsExports } from "./select-backend.ts";
import type { TF } from "./tf-types.ts";
import { type AdapterSummary, dawnGpu, describeAdapter, isRealGpu, summarizeAdapter, type WebgpuDriver } from "./webgpu-adapter.ts";
import { registerWebgpuTrainingKernels } from "./webgpu-kernels.ts";

export interface StartedWebgpu {
  readonly adapter: AdapterSummary;
  /** One line for logs and the workers table. */
  readonly detail: string;
  readonly kernels: readonly string[];
}

export interface StartWebgpuOptions {
  driver: WebgpuDriver;
  /** Refuse software adapters (SwiftShader, llvmpipe): what `BACKEND=auto` asks for. */
  requireRealGpu: boolean;
}

type WebgpuBackendClass = new (device: unknown, adapterInfo?: unknown) => object;

/**
 * Makes `webgpu` the active tfjs backend on a Dawn adapter and registers our training kernels
 * (worker/tf/webgpu-kernels.ts). Unlike tfjs-backend-webgpu's own registration (which needs a global
 * `navigator.gpu` at import time and takes whatever adapter comes), the adapter is asked for here,
 * checked, and reported. Throws with the reason when there is no adapter or only a software one and
 * `requireRealGpu` is set.
 *
 * @example
 * const { detail } = await startWebgpuBackend(tf, { driver: "system", requireRealGpu: true });
 */
export async function startWebgpuBackend(tf: TF, options: StartWebgpuOptions): Promise<StartedWebgpu> {
  const gpu = await dawnGpu(options.driver);
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new Error(
      options.driver === "swiftshader"
        ? "Dawn found no adapter on SwiftShader's Vulkan"
        : "Dawn found no WebGPU adapter (no Vulkan loader or driver: on a GPU host install libvulkan1 and the GPU's Vulkan driver)",
    );
  }
  const summary = summarizeAdapter(adapter);
  if (options.requireRealGpu && !isRealGpu(summary)) {
    throw new Error(`the WebGPU adapter is not a GPU: ${describeAdapter(summary)}`);
  }
  // The device asks for the adapter's limits, as tfjs-backend-webgpu's own factory does: the defaults
  // (128 MiB storage buffers) are too small for batch-64 activations of the first stage.
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has("timestamp-query") ? ["timestamp-query"] : [],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  });
  const { WebGPUBackend } = commonJsExports(
    (await import("@tensorflow/tfjs-backend-webgpu")) as unknown as { WebGPUBackend: WebgpuBackendClass }, "WebGPUBackend");
  // Importing the package registered its own factory (it saw navigator.gpu): ours replaces it.
  const registry = (tf.engine() as unknown as { registryFactory: Record<string, unknown> }).registryFactory;
  if ("webgpu" in registry) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", () => new WebGPUBackend(device, adapter.info) as never, 3);
  if (!(await tf.setBackend("webgpu"))) throw new Error("tf.setBackend('webgpu') failed");
  await tf.ready();
  const kernels = registerWebgpuTrainingKernels(tf);
  return {
    adapter: summary,
    kernels,
    detail: `webgpu on ${describeAdapter(summary)} via Dawn/Vulkan with training kernels: ${kernels.join(", ")}`,
  };
}
