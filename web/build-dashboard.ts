// `npm run build:web`: bundles the dashboard (web/src, uPlot, the shared schedule language and run-spec
// schema) into web/dist with esbuild: index.html plus content-hashed assets, so the API can cache the
// assets forever and never cache index.html. No CDN: everything the page loads comes from web/dist.
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const WEB = path.dirname(fileURLToPath(import.meta.url));

export interface BuildResult {
  outDir: string;
  js: string;
  css: string;
  bytes: number;
  ms: number;
  /** The source files bundled into the page (relative to the repository root). */
  inputs: string[];
}

/**
 * zod re-exports every locale as `z.locales`, a namespace object that bundlers cannot tree-shake
 * (264 KiB of the 570 KiB bundle). The page only needs English, which zod registers itself: the
 * locales index is replaced by one that exports `en` alone.
 */
const zodEnglishOnly: esbuild.Plugin = {
  name: "zod-english-only",
  setup(build) {
    build.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: path.resolve(args.resolveDir, args.path.replace(/index\.js$/, "en.js")), namespace: "zod-locales" } : undefined);
    build.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: path.dirname(args.path),
    }));
  },
};

/**
 * Builds the dashboard into `outDir` (default web/dist), replacing what was there.
 *
 * @example
 * ```ts
 * const { outDir } = await buildDashboard(); // web/dist/index.html, web/dist/assets/main-XXXX.js
 * ```
 */
export async function buildDashboard(options: { outDir?: string; minify?: boolean } = {}): Promise<BuildResult> {
  const t0 = performance.now();
  const outDir = options.outDir ?? path.join(WEB, "dist");
  const staging = `${outDir}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [path.join(WEB, "src", "main.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["chrome110", "firefox110", "safari16"],
    outdir: path.join(staging, "assets"),
    entryNames: "[name]-[hash]",
    assetNames: "[name]-[hash]",
    minify: options.minify ?? true,
    sourcemap: "linked",
    metafile: true,
    legalComments: "linked",
    logLevel: "silent",
    tsconfig: path.join(WEB, "tsconfig.json"),
    plugins: [zodEnglishOnly],
  });
  const outputs = Object.keys(result.metafile.outputs);
  const js = outputs.find((f) => f.endsWith(".js"));
  const css = outputs.find((f) => f.endsWith(".css"));
  if (!js || !css) throw new Error(`esbuild produced no ${js ? "CSS" : "JS"} bundle: ${outputs.join(", ")}`);
  const rel = (f: string) => `/assets/${path.basename(f)}`;
  const template = await readFile(path.join(WEB, "index.html"), "utf8");
  await writeFile(path.join(staging, "index.html"), template.replace("%JS%", rel(js)).replace("%CSS%", rel(css)));
  // Swap in one step, so a server reading web/dist never sees half a build.
  await rm(outDir, { recursive: true, force: true });
  await rename(staging, outDir);
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  const inputs = Object.keys(result.metafile.inputs);
  return { outDir, js: rel(js), css: rel(css), bytes, ms: performance.now() - t0, inputs };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const r = await buildDashboard();
    console.log(`dashboard built: ${path.relative(process.cwd(), r.outDir)} (${(r.bytes / 1024).toFixed(0)} KiB incl. source maps, ${r.ms.toFixed(0)} ms)`);
  } catch (e) {
    const errors = (e as { errors?: esbuild.Message[] }).errors;
    if (errors) {
      const text = await esbuild.formatMessages(errors, { kind: "error", color: false });
      console.error(text.join("\n"));
    } else console.error(e);
    process.exit(1);
  }
}
