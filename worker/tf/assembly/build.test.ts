import { test } from "node:test";
import assert from "node:assert/strict";
import { kernelsWasmBase64 } from "./kernels-wasm.ts";
import { compileKernels } from "./build.ts";

test("kernels-wasm.ts is built from kernels.ts (run `npm run build:kernels` after editing it)", () => {
  const committed = Buffer.from(kernelsWasmBase64, "base64");
  assert.ok(Buffer.from(compileKernels()).equals(committed), "kernels-wasm.ts is stale: npm run build:kernels");
});

test("the kernel module imports only tfjs's memory and has no data segments (it must not write outside its buffers)", () => {
  const module = new WebAssembly.Module(Buffer.from(kernelsWasmBase64, "base64"));
  assert.deepEqual(WebAssembly.Module.imports(module), [{ module: "env", name: "memory", kind: "memory" }]);
  // Section id 11 is the data section; walk the sections of the binary.
  const bytes = Buffer.from(kernelsWasmBase64, "base64");
  const ids: number[] = [];
  let i = 8;
  const leb = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[i++]!;
      v |= (b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7;
    }
  };
  while (i < bytes.length) {
    ids.push(bytes[i++]!);
    const size = leb();
    i += size;
  }
  assert.ok(!ids.includes(11), `sections ${ids.join(",")}`);
});
