/**
 * WebGPU in Node from npm alone: Dawn (the npm package `webgpu`, a prebuilt dawn.node) over the
 * machine's Vulkan, or over SwiftShader's Vulkan (CPU) for tests and CI.
 *
 * SwiftShader comes from `@sparticuz/chromium`'s `bin/swiftshader.tar.br` (a brotli tar holding
 * `libvk_swiftshader.so`, its ICD json and a Vulkan loader `libvulkan.so.1`). Dawn dlopen()s
 * "libvulkan.so.1" by name, which a machine without Vulkan does not have, and LD_LIBRARY_PATH cannot be
 * changed after start; so the carried loader is loaded first with RTLD_NODELETE: glibc then answers
 * Dawn's dlopen with the library already in the process (it matches the SONAME). The loader reads
 * VK_ICD_FILENAMES when Dawn creates its instance, so setting it in process.env is enough.
 */
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";
import path from "node:path";
import { createBrotliDecompress } from "node:zlib";
import { readTar } from "../data/tar.ts";

/** Where Dawn finds Vulkan: `system` (the machine's loader and driver) or `swiftshader` (CPU, for tests). */
const webgpuDrivers = ["system", "swiftshader"] as const;
export type WebgpuDriver = (typeof webgpuDrivers)[number];

/** What the adapter says about itself (GPUAdapterInfo), as reported in GET /v1/workers. */
export interface AdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** Dawn's own verdict: a CPU implementation (SwiftShader, llvmpipe) rather than a GPU. */
  readonly isFallbackAdapter: boolean;
}

/** The parts of `navigator.gpu` we use (the `webgpu` package's types are not needed at compile time). */
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: "high-performance" | "low-power" }): Promise<AdapterLike | null>;
}
export interface AdapterLike {
  readonly info: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter?: boolean };
  readonly features: ReadonlySet<string>;
  readonly limits: Record<string, number>;
  requestDevice(descriptor?: object): Promise<unknown>;
}

const RTLD_NODELETE = 0x1000; // glibc's value; not in os.constants.dlopen

/**
 * Software Vulkan implementations by the names their adapters report. `auto` never trains on these:
 * a CPU path through Vulkan is far slower than the wasm backend.
 */
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|cpu/i;

/**
 * Is this adapter a real GPU? False for Dawn's fallback adapters and anything named like a software
 * rasterizer (SwiftShader reports vendor "google", architecture "swiftshader").
 *
 * @example
 * isRealGpu({ vendor: "nvidia", architecture: "hopper", device: "", description: "NVIDIA H200", isFallbackAdapter: false }); // true
 */
export function isRealGpu(a: AdapterSummary): boolean {
  if (a.isFallbackAdapter) return false;
  return !SOFTWARE.test(`${a.vendor} ${a.architecture} ${a.device} ${a.description}`);
}

/** "nvidia hopper (NVIDIA H200, driver …)": one line for logs and the workers table. */
export function describeAdapter(a: AdapterSummary): string {
  const head = [a.vendor, a.architecture].filter((s) => s !== "").join(" ") || "unknown adapter";
  const tail = [a.device, a.description].filter((s) => s !== "").join(", ");
  return `${head}${tail ? ` (${tail})` : ""}${isRealGpu(a) ? "" : " [software: not a GPU]"}`;
}

/**
 * Reads `WEBGPU_DRIVER` (undefined or "" → system); throws RangeError naming the allowed values.
 *
 * @example
 * parseWebgpuDriver("swiftshader"); // "swiftshader"
 */
export function parseWebgpuDriver(value: string | undefined): WebgpuDriver {
  const v = (value ?? "").trim() || "system";
  if ((webgpuDrivers as readonly string[]).includes(v)) return v as WebgpuDriver;
  throw new RangeError(`WEBGPU_DRIVER must be one of ${webgpuDrivers.join(", ")}, got ${JSON.stringify(value)}`);
}

let swiftShaderDir: Promise<string> | undefined;

/**
 * Unpacks SwiftShader's Vulkan from `@sparticuz/chromium` into `cacheDir` once (atomically: a
 * temporary folder renamed into place), loads its Vulkan loader into the process and points
 * VK_ICD_FILENAMES at its ICD. Returns the folder. Throws when the package is not installed.
 */
function useSwiftShader(cacheDir?: string): Promise<string> {
  swiftShaderDir ??= (async () => {
    const require = createRequire(import.meta.url);
    // The package's exports hide package.json: find its folder from the entry point.
    const entry = require.resolve("@sparticuz/chromium");
    const marker = `${path.sep}@sparticuz${path.sep}chromium${path.sep}`;
    const root = entry.slice(0, entry.lastIndexOf(marker) + marker.length);
    const { version } = JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as { version: string };
    const archive = path.join(root, "bin", "swiftshader.tar.br");
    // Default: node_modules/.cache/resnet-jobs beside the package, wherever the process runs from.
    cacheDir ??= path.join(root, "..", "..", ".cache", "resnet-jobs");
    const dir = path.join(cacheDir, `swiftshader-${version}`);
    const icd = path.join(dir, "vk_swiftshader_icd.json");
    if (!(await exists(icd))) {
      await mkdir(cacheDir, { recursive: true });
      const tmp = await mkdtemp(path.join(cacheDir, ".swiftshader-"));
      try {
        await readTar(createReadStream(archive).pipe(createBrotliDecompress()), async (entry) => {
          if (entry.type !== "file" || entry.name.includes("/")) return null;
          const chunks: Uint8Array[] = [];
          return {
            write: (c) => void chunks.push(c.slice()),
            end: () => writeFile(path.join(tmp, entry.name), Buffer.concat(chunks), { mode: 0o755 }),
          };
        });
        if (!(await exists(path.join(tmp, "vk_swiftshader_icd.json")))) {
          throw new Error(`${archive} holds no vk_swiftshader_icd.json`);
        }
        await rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
          // Another process unpacked it first: use theirs.
          if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e;
        });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }
    const loader = path.join(dir, "libvulkan.so.1");
    try {
      process.dlopen({ exports: {} }, loader, osConstants.dlopen.RTLD_NOW | osConstants.dlopen.RTLD_GLOBAL | RTLD_NODELETE);
    } catch (e) {
      // Expected: it is no Node addon ("did not self-register"), but the library stays loaded.
      if (!/self-register/.test((e as Error).message)) throw e;
    }
    process.env.VK_ICD_FILENAMES = icd;
    process.env.VK_DRIVER_FILES = icd;
    return dir;
  })();
  return swiftShaderDir;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

let gpu: GpuLike | undefined;

/**
 * `navigator.gpu` from Dawn (one per process: dawn.node keeps its instance alive while referenced).
 * Also installs the WebGPU globals (GPUBufferUsage, …) that tfjs-backend-webgpu reads.
 */
export async function dawnGpu(driver: WebgpuDriver): Promise<GpuLike> {
  if (driver === "swiftshader") await useSwiftShader();
  if (gpu) return gpu;
  const mod = (await import("webgpu")) as unknown as { create(flags: string[]): GpuLike; globals: Record<string, unknown> };
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  }
  gpu = mod.create([]);
  // tfjs-backend-webgpu's constructor checks `navigator.gpu` (Node 20 has no navigator at all).
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator === undefined) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true });
  if (g.navigator!.gpu === undefined) Object.defineProperty(g.navigator!, "gpu", { value: gpu, configurable: true, writable: true });
  return gpu;
}

/** The adapter's info as plain data. */
export function summarizeAdapter(adapter: AdapterLike): AdapterSummary {
  const i = adapter.info;
  return {
    vendor: i.vendor ?? "",
    architecture: i.architecture ?? "",
    device: i.device ?? "",
    description: i.description ?? "",
    isFallbackAdapter: i.isFallbackAdapter === true,
  };
}
