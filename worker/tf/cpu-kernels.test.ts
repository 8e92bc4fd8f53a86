import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { registerCpuTrainingKernels } from "./cpu-kernels.ts";
import { pseudoRandom, relErr } from "./test-backends.ts";

test("cpu Conv2DBackpropFilter (im2col + matMul) matches the stock kernel for every ResNetV2 case", async () => {
  await tf.setBackend("cpu");
  const stock = tf.getKernel("Conv2DBackpropFilter", "cpu")!.kernelFunc;
  const cases = [
    [2, 8, 9, 4, 8, 3, 1], [1, 7, 7, 3, 5, 3, 2], [2, 9, 10, 6, 4, 1, 1], [1, 9, 9, 8, 16, 1, 2], [1, 1, 2, 2, 3, 3, 1],
  ] as const;
  const run = () => cases.map(([n, h, w, cin, cout, k, s]) => {
    const x = tf.tensor(pseudoRandom(n * h * w * cin, 1), [n, h, w, cin]);
    const dy = tf.tensor(pseudoRandom(n * Math.ceil(h / s) * Math.ceil(w / s) * cout, 2), [n, Math.ceil(h / s), Math.ceil(w / s), cout]);
    const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy },
      { strides: [s, s], pad: "same", dataFormat: "NHWC", filterShape: [k, k, cin, cout] } as never) as tf.Tensor;
    const values = Float64Array.from(dw.dataSync());
    tf.dispose([x, dy, dw]);
    return values;
  });
  const want = run();
  registerCpuTrainingKernels(tf);
  const got = run();
  tf.unregisterKernel("Conv2DBackpropFilter", "cpu");
  tf.registerKernel({ kernelName: "Conv2DBackpropFilter", backendName: "cpu", kernelFunc: stock });
  for (let i = 0; i < cases.length; i++) assert.ok(relErr(got[i]!, want[i]!) < 1e-5, `case ${cases[i]}: ${relErr(got[i]!, want[i]!)}`);
});
