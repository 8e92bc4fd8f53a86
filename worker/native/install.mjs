// `npm ci` / `npm install` runs this (the root package's "install" script): it builds the oneDNN addon
// when Debian's libdnnl-dev headers are present, and otherwise prints one line and succeeds, like an
// optional dependency: the workers then run on wasm. `npm run build:native` runs it on demand.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const headers = ["/usr/include/oneapi/dnnl/dnnl.hpp", "/usr/local/include/oneapi/dnnl/dnnl.hpp"];
if (process.env.RESNET_NATIVE === "0") {
  console.log("native backend: skipped (RESNET_NATIVE=0); workers use wasm");
  process.exit(0);
}
if (!headers.some((h) => existsSync(h))) {
  console.log("native backend: not built (no oneDNN headers: apt-get install libdnnl-dev, then npm ci); workers use wasm");
  process.exit(0);
}
// npm names its bundled node-gyp in npm_config_node_gyp for lifecycle scripts (and puts it on PATH).
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp]] : ["node-gyp", []];
const r = spawnSync(cmd, [...args, "rebuild", "--jobs", "2"], { cwd: here, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
if (r.status !== 0) {
  // A broken toolchain must not break the install of a service that runs without the addon.
  const lines = `${r.stderr ?? ""}\n${r.stdout ?? ""}`.split("\n").filter((l) => /error/i.test(l)).slice(0, 3);
  const why = r.error ? r.error.message : lines.join(" | ") || `exit ${r.status}`;
  console.log(`native backend: build failed (${why}); workers use wasm. Retry: npm run build:native`);
  process.exit(0);
}
console.log("native backend: built worker/native/build/Release/resnet_native.node (oneDNN)");
