import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "./tf-types.ts";

type TensorInfo = tfjs.TensorInfo;
type AnyKernelFunc = (args: { inputs: object; backend: unknown; attrs?: object }) => TensorInfo | TensorInfo[];

/** The parts of tfjs-backend-cpu's MathBackendCPU that the kernel uses. */
interface CpuBackend {
  data: { get(dataId: object): { values: Float32Array } | undefined };
  makeTensorInfo(shape: number[], dtype: "float32", values?: Float32Array): TensorInfo;
  disposeIntermediateTensorInfo(t: TensorInfo): void;
}

let stockFilterGrad: AnyKernelFunc | undefined;

/**
 * Replaces the `cpu` backend's Conv2DBackpropFilter (≈0.01 GFLOP/s: a loop nest that walks dy for
 * every filter tap) with an im2col + matMul built on the backend's own BatchMatMul (≈0.4 GFLOP/s),
 * for NHWC and dilation 1; other cases go to the stock kernel. Used when BACKEND=cpu (the last
 * resort); the tests keep the stock cpu backend as their reference.
 *
 * @example
 * await tf.setBackend("cpu");
 * registerCpuTrainingKernels(tf); // ["Conv2DBackpropFilter"]
 */
export function registerCpuTrainingKernels(tf: TF): string[] {
  stockFilterGrad ??= tf.getKernel("Conv2DBackpropFilter", "cpu")?.kernelFunc as AnyKernelFunc | undefined;
  const matMulKernel = tf.getKernel("BatchMatMul", "cpu")!.kernelFunc as AnyKernelFunc;
  const filterGrad = (args: {
    inputs: { x: TensorInfo; dy: TensorInfo };
    backend: CpuBackend;
    attrs: { strides: number | [number, number]; pad: "same" | "valid" | number; dataFormat: string; dimRoundingMode?: "floor" | "round" | "ceil"; filterShape: number[] };
  }) => {
    const { inputs: { x, dy }, backend, attrs } = args;
    if (attrs.dataFormat !== "NHWC" || x.dtype !== "float32") return stockFilterGrad!(args);
    const ci = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number],
      attrs.filterShape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: co,
      filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
    const { top, left } = ci.padInfo;
    const xv = backend.data.get(x.dataId)!.values;
    const p = n * oh * ow;
    const k = kh * kw * c;
    // cols [P, KH·KW·C]: row p holds the input patch under output pixel p (zeros off the edge).
    const cols = new Float32Array(p * k);
    for (let b = 0, row = 0; b < n; b++) {
      for (let y = 0; y < oh; y++) {
        for (let z = 0; z < ow; z++, row++) {
          for (let a = 0; a < kh; a++) {
            const iy = y * sh + a - top;
            if (iy < 0 || iy >= h) continue;
            for (let e = 0; e < kw; e++) {
              const ix = z * sw + e - left;
              if (ix < 0 || ix >= w) continue;
              const src = ((b * h + iy) * w + ix) * c;
              cols.set(xv.subarray(src, src + c), row * k + (a * kw + e) * c);
            }
          }
        }
      }
    }
    const colsInfo = backend.makeTensorInfo([1, p, k], "float32", cols);
    const dy3 = { dataId: dy.dataId, shape: [1, p, co], dtype: dy.dtype };
    const out = matMulKernel({ inputs: { a: colsInfo, b: dy3 }, backend, attrs: { transposeA: true, transposeB: false } }) as TensorInfo;
    backend.disposeIntermediateTensorInfo(colsInfo);
    return { dataId: out.dataId, shape: [kh, kw, c, co], dtype: out.dtype };
  };
  if (tf.getKernel("Conv2DBackpropFilter", "cpu")) tf.unregisterKernel("Conv2DBackpropFilter", "cpu");
  tf.registerKernel({ kernelName: "Conv2DBackpropFilter", backendName: "cpu", kernelFunc: filterGrad as unknown as tfjs.KernelFunc });
  return ["Conv2DBackpropFilter"];
}
