import { test } from "node:test";
import assert from "node:assert/strict";
import { cpuThreads, loadConfig } from "../../shared/config.ts";
import { parseBackendChoice, selectBackend } from "./select-backend.ts";
import { nativeSkipReason } from "./test-backends.ts";

test("parseBackendChoice() reads BACKEND: empty means auto, unknown values are RangeErrors listing the choices", () => {
  assert.equal(parseBackendChoice(undefined), "auto");
  assert.equal(parseBackendChoice(""), "auto");
  assert.equal(parseBackendChoice("wasm"), "wasm");
  assert.throws(() => parseBackendChoice("gpu"), /BACKEND must be one of auto, tensorflow, webgpu, native, wasm, cpu, got "gpu"/);
});

test("selectBackend('auto') without libtensorflow or a GPU skips tfjs-node(-gpu) and webgpu with a reason and starts native, else wasm", async () => {
  const lines: string[] = [];
  const picked = await selectBackend("auto", { log: (l) => lines.push(l), threads: 2 });
  if (picked.name === "tensorflow") return; // a host with tfjs-node installed: nothing to check here
  assert.equal(picked.tf.getBackend(), "wasm");
  assert.ok(picked.skipped.every((s) => s.reason.length > 0));
  const before = ["@tensorflow/tfjs-node-gpu", "webgpu (a real GPU only)", "@tensorflow/tfjs-node"];
  assert.match(lines.join("\n"), /skipped @tensorflow\/tfjs-node-gpu: .*\n.*skipped webgpu \(a real GPU only\): .*\n.*skipped @tensorflow\/tfjs-node: .*\n/);
  if (nativeSkipReason === undefined) {
    // The addon is built: auto picks it, on the threads it was given, and says so.
    assert.equal(picked.name, "native");
    assert.equal(picked.threads, 2);
    assert.deepEqual(picked.skipped.map((s) => s.candidate), before);
    assert.match(picked.detail, /^native \(oneDNN \d+\.\d+\.\d+ \(OpenMP\), 2 threads, conv layout nhwc\) on wasm .*Conv2DBackpropFilter/);
    assert.match(lines.at(-1)!, /backend: native .*\(BACKEND=auto\)/);
  } else {
    assert.equal(picked.name, "wasm");
    assert.deepEqual(picked.skipped.map((s) => s.candidate), [...before, "native"]);
    assert.match(picked.skipped.at(-1)!.reason, /oneDNN addon is not built/);
    assert.match(picked.detail, /wasm \(SIMD, 1 thread\) with training kernels: .*Conv2DBackpropFilter/);
  }
});

test("selectBackend('native') fails loudly when the addon is missing, naming what to install", { skip: nativeSkipReason === undefined ? "the addon is built here; the failure path runs where it is not" : false }, async () => {
  await assert.rejects(selectBackend("native", { log: () => {} }),
    /No TensorFlow.js backend could start for BACKEND=native: native \(the oneDNN addon is not built.*libdnnl-dev/);
});

test("selectBackend('tensorflow') fails with a message that says how a GPU host installs it", async () => {
  await assert.rejects(selectBackend("tensorflow", { log: () => {} }).then((p) => {
    if (p.name === "tensorflow") throw new Error("No TensorFlow.js backend (skipped: tfjs-node is installed here)");
    return p;
  }), /No TensorFlow.js backend.*npm install @tensorflow\/tfjs-node-gpu|skipped: tfjs-node is installed/);
});

test("CPU_THREADS is validated by the config schema; by default the cores are shared out among WORKERS", () => {
  assert.equal(loadConfig({ CPU_THREADS: "3" }).CPU_THREADS, 3);
  assert.throws(() => loadConfig({ CPU_THREADS: "0" }), /CPU_THREADS: .*\(got "0"\)/);
  assert.throws(() => loadConfig({ CPU_THREADS: "two" }), /CPU_THREADS/);
  assert.equal(loadConfig({ BACKEND: "native" }).BACKEND, "native");
  assert.equal(cpuThreads(loadConfig({}), 2), 2);
  assert.equal(cpuThreads(loadConfig({ WORKERS: "2" }), 2), 1);
  assert.equal(cpuThreads(loadConfig({ WORKERS: "3" }), 2), 1);
  assert.equal(cpuThreads(loadConfig({ WORKERS: "0" }), 8), 8);
  assert.equal(cpuThreads(loadConfig({ WORKERS: "2", CPU_THREADS: "2" }), 2), 2);
});
