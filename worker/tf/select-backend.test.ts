import { test } from "node:test";
import assert from "node:assert/strict";
import { parseBackendChoice, selectBackend } from "./select-backend.ts";

test("parseBackendChoice() reads BACKEND: empty means auto, unknown values are RangeErrors listing the choices", () => {
  assert.equal(parseBackendChoice(undefined), "auto");
  assert.equal(parseBackendChoice(""), "auto");
  assert.equal(parseBackendChoice("wasm"), "wasm");
  assert.throws(() => parseBackendChoice("gpu"), /BACKEND must be one of auto, tensorflow, webgpu, wasm, cpu, got "gpu"/);
});

test("selectBackend('auto') without libtensorflow or a GPU skips tfjs-node(-gpu) and webgpu with a reason and starts wasm with our kernels", async () => {
  const lines: string[] = [];
  const picked = await selectBackend("auto", { log: (l) => lines.push(l) });
  if (picked.name === "tensorflow") return; // a host with tfjs-node installed: nothing to check here
  assert.equal(picked.name, "wasm");
  assert.equal(picked.tf.getBackend(), "wasm");
  assert.deepEqual(picked.skipped.map((s) => s.candidate), ["@tensorflow/tfjs-node-gpu", "webgpu (a real GPU only)", "@tensorflow/tfjs-node"]);
  assert.ok(picked.skipped.every((s) => s.reason.length > 0));
  assert.match(picked.detail, /wasm \(SIMD, 1 thread\) with training kernels: .*Conv2DBackpropFilter/);
  assert.match(lines.join("\n"), /skipped @tensorflow\/tfjs-node-gpu: .*\n.*skipped webgpu \(a real GPU only\): .*\n.*skipped @tensorflow\/tfjs-node: .*\n.*backend: wasm/);
});

test("selectBackend('tensorflow') fails with a message that says how a GPU host installs it", async () => {
  await assert.rejects(selectBackend("tensorflow", { log: () => {} }).then((p) => {
    if (p.name === "tensorflow") throw new Error("No TensorFlow.js backend (skipped: tfjs-node is installed here)");
    return p;
  }), /No TensorFlow.js backend.*npm install @tensorflow\/tfjs-node-gpu|skipped: tfjs-node is installed/);
});
