import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname } from "node:path";
import { loadNativeAddon } from "./native-addon.ts";
import { registerNativeKernels } from "./native-kernels.ts";
import type { TF } from "./tf-types.ts";
import { registerCpuTrainingKernels } from "./cpu-kernels.ts";
import { registerWasmTrainingKernels } from "./wasm-kernels.ts";
import type { AdapterSummary, WebgpuDriver } from "./webgpu-adapter.ts";

/** `BACKEND` values: `auto` tries tfjs-node-gpu → webgpu (a real GPU only) → tfjs-node → native → wasm → cpu. */
export const backendChoices = ["auto", "tensorflow", "webgpu", "native", "wasm", "cpu"] as const;
export type BackendChoice = (typeof backendChoices)[number];

export interface SelectedBackend {
  /** The TensorFlow.js namespace, with `name` active: pass it to model and training code. */
  readonly tf: TF;
  /**
   * tf.getBackend(): "tensorflow" (tfjs-node or tfjs-node-gpu), "webgpu", "wasm" or "cpu"; or "native":
   * the wasm backend with its hot kernels in our oneDNN addon (tf.getBackend() says "wasm").
   */
  readonly name: "tensorflow" | "webgpu" | "native" | "wasm" | "cpu";
  /** CPU threads it computes on: native's oneDNN threads (CPU_THREADS); wasm and cpu 1. */
  readonly threads?: number;
  /** The npm package that provides it, e.g. "@tensorflow/tfjs-node-gpu". */
  readonly package: string;
  /** One line on what was chosen, e.g. "wasm (SIMD, 1 thread) with training kernels: Conv2DBackpropFilter, …". */
  readonly detail: string;
  /** webgpu only: the adapter Dawn gave (vendor, architecture, device). */
  readonly adapter?: AdapterSummary;
  /** Candidates tried before it and why each was skipped. */
  readonly skipped: readonly { readonly candidate: string; readonly reason: string }[];
}

export interface SelectBackendOptions {
  /** Where the one-line decisions go (default: console.error, so stdout stays clean for CSV/JSON). */
  log?: (line: string) => void;
  /** Where Dawn finds Vulkan for `webgpu` (WEBGPU_DRIVER): the machine's (default) or SwiftShader's. */
  webgpuDriver?: WebgpuDriver;
  /** Threads of the native backend (CPU_THREADS); default: every core (os.availableParallelism()). */
  threads?: number;
  /** Convolution layout of the native backend (measurement only; default "nhwc"). */
  nativeLayout?: "nhwc" | "blocked" | "plain";
}

/**
 * Reads `BACKEND` (undefined or "" → auto); throws RangeError naming the allowed values.
 *
 * @example
 * parseBackendChoice(process.env.BACKEND); // "auto"
 */
export function parseBackendChoice(value: string | undefined): BackendChoice {
  const v = (value ?? "").trim() || "auto";
  if ((backendChoices as readonly string[]).includes(v)) return v as BackendChoice;
  throw new RangeError(`BACKEND must be one of ${backendChoices.join(", ")}, got ${JSON.stringify(value)}`);
}

// Optional packages are imported by a computed name so that neither TypeScript nor a bundler
// requires them to be installed: GPU hosts add them, everyone else runs wasm.
const importOptional = (name: string): Promise<unknown> => import(name);

async function tryTensorflow(pkg: string): Promise<TF> {
  const mod = (await importOptional(pkg)) as Partial<TF> & { default?: TF };
  const ns = (typeof mod.getBackend === "function" ? mod : mod.default) as TF;
  await ns.setBackend("tensorflow");
  await ns.ready();
  if (ns.getBackend() !== "tensorflow") throw new Error(`${pkg} loaded but its "tensorflow" backend did not start`);
  return ns;
}

/**
 * The exports of a CommonJS package loaded with import(): Node lists them as named exports, but an
 * esbuild bundle (bench/gpu-bundle.ts) leaves some only under `default`.
 */
export function commonJsExports<T extends object>(mod: T, probe: keyof T): T {
  if (typeof mod[probe] === "function") return mod;
  const inner = (mod as { default?: T }).default;
  if (inner && typeof inner[probe] === "function") return inner;
  throw new TypeError(`the module has no ${String(probe)}()`);
}

function describeError(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(msg)) return "not installed";
  return msg.split("\n")[0]!.slice(0, 200);
}

/**
 * Picks and initialises the TensorFlow.js backend for a worker or CLI, and logs the choice.
 *
 * - `tensorflow`: @tensorflow/tfjs-node-gpu (CUDA), else @tensorflow/tfjs-node (native CPU);
 * - `webgpu`: @tensorflow/tfjs-backend-webgpu on Dawn (npm `webgpu`) over Vulkan, plus our WGSL
 *   training kernels (worker/tf/webgpu-kernels.ts); any adapter, SwiftShader's included;
 * - `native`: the wasm backend with convolutions, batch norm, AdamW and the big elementwise ops in
 *   our oneDNN addon (worker/native) on `threads` cores — the fast CPU path when `npm ci` built it;
 * - `wasm`: @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD, one thread in Node) plus our training
 *   kernels (worker/tf/wasm-kernels.ts) — the fast choice on machines without libtensorflow;
 * - `cpu`: plain JavaScript, slow (tests and last resort);
 * - `auto`: the first of tensorflow-gpu, webgpu on a real GPU (never a software adapter), tensorflow,
 *   native, wasm, cpu that starts.
 *
 * @example
 * const { tf, detail } = await selectBackend(parseBackendChoice(process.env.BACKEND));
 * const model = buildResNetV2(tf, { depth: 56 });
 */
export async function selectBackend(choice: BackendChoice = "auto", options: SelectBackendOptions = {}): Promise<SelectedBackend> {
  const log = options.log ?? ((line: string) => console.error(line));
  const skipped: { candidate: string; reason: string }[] = [];
  const candidates: string[] =
    choice === "auto" ? ["@tensorflow/tfjs-node-gpu", "webgpu (a real GPU only)", "@tensorflow/tfjs-node", "native", "wasm", "cpu"]
    : choice === "tensorflow" ? ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]
    : [choice];
  for (const candidate of candidates) {
    try {
      const picked = await start(candidate, options.webgpuDriver ?? "system", options);
      const result: SelectedBackend = { ...picked, skipped };
      for (const s of skipped) log(`backend: skipped ${s.candidate}: ${s.reason}`);
      log(`backend: ${result.detail} (BACKEND=${choice})`);
      return result;
    } catch (e) {
      skipped.push({ candidate, reason: describeError(e) });
    }
  }
  for (const s of skipped) log(`backend: skipped ${s.candidate}: ${s.reason}`);
  throw new Error(
    `No TensorFlow.js backend could start for BACKEND=${choice}: ` +
      skipped.map((s) => `${s.candidate} (${s.reason})`).join("; ") +
      (choice === "tensorflow" ? ". On a GPU host: npm install @tensorflow/tfjs-node-gpu (see README)." : "") +
      (choice === "native" ? ". Install Debian's libdnnl-dev and run npm ci (see README)." : ""),
  );
}

async function startWasm(tf: TF): Promise<{ simd: boolean; kernels: readonly string[] }> {
  const wasm = commonJsExports(await import("@tensorflow/tfjs-backend-wasm"), "setWasmPaths");
  const require = createRequire(import.meta.url);
  // In Node the .wasm files must be read from disk: point tfjs at the package's dist folder.
  wasm.setWasmPaths(`${dirname(require.resolve("@tensorflow/tfjs-backend-wasm"))}/`);
  if (!(await tf.setBackend("wasm"))) throw new Error("tf.setBackend('wasm') failed");
  await tf.ready();
  const simd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) === true;
  const { kernels } = registerWasmTrainingKernels(tf);
  return { simd, kernels };
}

async function start(candidate: string, webgpuDriver: WebgpuDriver, options: SelectBackendOptions): Promise<Omit<SelectedBackend, "skipped">> {
  if (candidate.startsWith("@tensorflow/tfjs-node")) {
    const tf = await tryTensorflow(candidate);
    const gpu = candidate.endsWith("-gpu");
    return { tf, name: "tensorflow", package: candidate, detail: `tensorflow via ${candidate}${gpu ? " (CUDA if a GPU is visible)" : ""}` };
  }
  const tf = commonJsExports((await import("@tensorflow/tfjs")) as TF, "engine");
  if (candidate.startsWith("webgpu")) {
    // Imported on demand: both packages are optional dependencies.
    const { startWebgpuBackend } = await import("./webgpu-backend.ts");
    const started = await startWebgpuBackend(tf, { driver: webgpuDriver, requireRealGpu: candidate !== "webgpu" });
    return { tf, name: "webgpu", package: "@tensorflow/tfjs-backend-webgpu", detail: started.detail, adapter: started.adapter };
  }
  if (candidate === "native") {
    // Load the addon first: without it there is nothing to start, and wasm stays untouched.
    const addon = loadNativeAddon();
    const threads = options.threads ?? availableParallelism();
    const { simd } = await startWasm(tf);
    const { kernels } = registerNativeKernels(tf, addon, { threads, ...(options.nativeLayout ? { layout: options.nativeLayout } : {}) });
    return {
      tf, name: "native", threads, package: "worker/native (oneDNN addon) + @tensorflow/tfjs-backend-wasm",
      detail: `native (oneDNN ${addon.version()}, ${threads} thread${threads === 1 ? "" : "s"}, conv layout ${addon.layout()}) ` +
        `on wasm (${simd ? "SIMD" : "no SIMD"}) with kernels: ${kernels.join(", ")}`,
    };
  }
  if (candidate === "wasm") {
    const { simd, kernels } = await startWasm(tf);
    return {
      tf, name: "wasm", threads: 1, package: "@tensorflow/tfjs-backend-wasm",
      detail: `wasm (${simd ? "SIMD" : "no SIMD: slow"}, 1 thread) with training kernels: ${kernels.join(", ")}`,
    };
  }
  if (candidate === "cpu") {
    if (!(await tf.setBackend("cpu"))) throw new Error("tf.setBackend('cpu') failed");
    await tf.ready();
    const kernels = registerCpuTrainingKernels(tf);
    return {
      tf, name: "cpu", threads: 1, package: "@tensorflow/tfjs-backend-cpu",
      detail: `cpu (plain JavaScript: slow, last resort) with training kernels: ${kernels.join(", ")}`,
    };
  }
  throw new RangeError(`unknown backend candidate ${candidate}`);
}
