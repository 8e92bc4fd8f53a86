// `npm run build:gpu-check`: packs what bench/gpu-check.sh needs on a lent GPU machine into
// bench/gpu-bundle/ (git-ignored; carried by the device tool), within its 64 MiB:
//   train-step.mjs, train.mjs  the benchmark and the training CLI, one esbuild bundle each (tfjs, the
//                              wasm and webgpu backends, zod, … inlined: no node_modules there)
//   node_modules/webgpu/       Dawn for linux-x64 only (dawn.node, xz-compressed) and its index.js
//   node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm  for the CPU path measured beside it
//   node.xz                    this machine's Node binary (self-contained: libc and libstdc++ only), in
//                              case the GPU machine has no Node
// Prints the bundle's size and fails if it is over the budget.
import { execFileSync } from "node:child_process";
import { copyFile, mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = path.join(ROOT, "bench", "gpu-bundle");
/** The device tool carries 64 MiB in all: the tracked tree, the Vulkan loader debs (.gl) and this. */
const BUDGET = 56 * 2 ** 20;
const require = createRequire(import.meta.url);

await rm(OUT, { recursive: true, force: true });
await mkdir(OUT, { recursive: true });

await build({
  entryPoints: { "train-step": path.join(ROOT, "bench/train-step.ts"), train: path.join(ROOT, "worker/cli/train.ts") },
  outdir: OUT,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  splitting: true, // tfjs once, shared by both entry points
  platform: "node",
  format: "esm",
  target: "node20",
  // Dawn stays a real package beside the bundle (a native addon); SwiftShader is only for local runs
  // (it resolves from the checkout's node_modules there). tfjs-node(-gpu) are imported by computed names.
  external: ["webgpu", "@sparticuz/chromium"],
  // CommonJS packages inside an ESM bundle call require() for Node built-ins and read __dirname.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; " +
      "const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __filename.replace(/[/][^/]*$/, '');",
  },
  logLevel: "warning",
});

// Dawn: its ESM index.js loads dist/<platform>-<arch>/dawn.node.
const webgpuRoot = path.dirname(require.resolve("webgpu/package.json"));
const webgpuOut = path.join(OUT, "node_modules", "webgpu");
await mkdir(path.join(webgpuOut, "dist", "linux-x64"), { recursive: true });
await copyFile(path.join(webgpuRoot, "index.js"), path.join(webgpuOut, "index.js"));
await writeFile(path.join(webgpuOut, "package.json"), JSON.stringify({ name: "webgpu", type: "module", main: "index.js" }));
await xzCached(path.join(webgpuRoot, "dist", "linux-x64", "dawn.node"), path.join(webgpuOut, "dist", "linux-x64", "dawn.node.xz"));

// The wasm backend finds its .wasm files next to its resolved entry point (select-backend.ts).
const wasmRoot = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
const wasmOut = path.join(OUT, "node_modules", "@tensorflow", "tfjs-backend-wasm", "dist");
await mkdir(wasmOut, { recursive: true });
for (const f of (await readdir(wasmRoot)).filter((f) => f.endsWith(".wasm"))) await copyFile(path.join(wasmRoot, f), path.join(wasmOut, f));
await writeFile(path.join(wasmOut, "..", "package.json"), JSON.stringify({ name: "@tensorflow/tfjs-backend-wasm", main: "dist/index.js" }));
await writeFile(path.join(wasmOut, "index.js"), "// placeholder: the bundles hold the backend; this file only anchors the .wasm paths\n");

await xzCached(process.execPath, path.join(OUT, "node.xz"));
for (const f of ["gpu-check.json", "gpu-check-tiny.json"]) await copyFile(path.join(ROOT, "bench", "specs", f), path.join(OUT, f));

/** xz -6 of a big binary takes minutes on a loaded machine: keep one per source (path, size, mtime). */
async function xzCached(src: string, dst: string): Promise<void> {
  const s = await stat(src);
  const cache = path.join(ROOT, "node_modules", ".cache", "resnet-jobs", "gpu-bundle");
  const key = path.join(cache, `${src.replace(/[^A-Za-z0-9]+/g, "_")}-${s.size}-${Math.floor(s.mtimeMs)}.xz`);
  if (!(await stat(key).catch(() => null))) {
    await mkdir(cache, { recursive: true });
    execFileSync("sh", ["-c", `xz -T0 -6 -c "$0" > "$1.tmp" && mv "$1.tmp" "$1"`, src, key]);
  }
  await copyFile(key, dst);
}

const size = async (p: string): Promise<number> => {
  const s = await stat(p);
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const e of await readdir(p)) total += await size(path.join(p, e));
  return total;
};
const bytes = await size(OUT);
console.log(`bench/gpu-bundle: ${(bytes / 2 ** 20).toFixed(1)} MiB (budget ${BUDGET / 2 ** 20} MiB with the tracked tree and .gl beside it)`);
if (bytes > BUDGET) {
  console.error("bench/gpu-bundle is over its budget");
  process.exit(1);
}
