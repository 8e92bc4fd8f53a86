import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "./tf-types.ts";
import { BN_RELU_GRAD, BN_RELU_INFER, BN_RELU_TRAIN } from "./wasm-kernels.ts";

type TensorInfo = tfjs.TensorInfo;
type Shape = number[];
type AnyKernelFunc = (args: { inputs: object; backend: unknown; attrs?: object }) => TensorInfo | TensorInfo[];

/** The parts of tfjs-backend-webgpu's WebGPUBackend that kernels use. */
interface WebgpuBackend {
  runWebGPUProgram(program: object, inputs: TensorInfo[], dtype: "float32", uniforms?: { type: "int32" | "float32"; data: number[] }[]): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

const WORKGROUP = 64;

/**
 * One AdamW update of one variable (worker/train/adamw.ts uses it where the backend has it): inputs
 * w, g, m, v; attrs decay, alpha, beta1, beta2, epsilon; outputs [w', m', v'] in 3 dispatches where
 * the generic ops take 14 (a ResNet56 has ~280 variables: dispatches, not arithmetic, bound the step).
 */
export const ADAMW_STEP = "ResNetAdamWStep";
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/**
 * One WGSL compute program in the shape tfjs-backend-webgpu expects (its WebGPUProgram interface):
 * the backend binds `result` (the output) and one read-only `array<f32>` per name in
 * `variableNames`, adds the uniforms named in `uniforms` after its own, and calls our
 * `fn main(index : i32)` once per thread of a flat dispatch. `threads` is how many do work; the
 * rest of the last workgroup returns at once.
 */
class Program {
  readonly dispatchLayout: { x: number[] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  readonly size = false;
  shaderKey: string;
  constructor(
    key: string,
    readonly outputShape: Shape,
    readonly variableNames: string[],
    readonly uniforms: string,
    threads: number,
    private readonly body: string,
  ) {
    this.shaderKey = `resnet_${key}`;
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    this.dispatch = [Math.ceil(threads / WORKGROUP), 1, 1];
  }
  getUserCode(): string {
    return `fn main(index : i32) {\n${this.body}\n}`;
  }
}

// Per-channel reductions over rows of an [rows, C] (channels-last) view: pass 1 sums each of S row
// chunks per channel (threads S·C, neighbouring threads read neighbouring channels, so reads are
// coalesced); pass 2 adds the S partial sums per column and scales them. Two passes instead of one
// workgroup per channel keep thousands of threads busy for C = 16 as for C = 256.
const REDUCE_UNIFORMS = "rows : i32, channels : i32, chunk : i32, splits : i32, threads : i32, factor : f32, eps : f32,";

type PartialMode = "sum" | "centered-square" | "bn-relu-grad";

const PARTIAL_BODY: Record<PartialMode, { names: string[]; before: string; step: string; store: string }> = {
  sum: { names: ["x"], before: "", step: "acc += x[i];", store: "result[s * C + c] = acc;" },
  "centered-square": {
    names: ["x", "mean"], before: "let m = mean[c];", step: "let d = x[i] - m; acc += d * d;", store: "result[s * C + c] = acc;",
  },
  // Σ dy and Σ dy·(x − μ), dy = dr·[r > 0]: what the BN-ReLU gradient needs, in one read of dr, r, x.
  "bn-relu-grad": {
    names: ["dr", "rr", "x", "mean"],
    before: "let m = mean[c]; var acc2 = 0.0;",
    step: "let g = select(0.0, dr[i], rr[i] > 0.0); acc += g; acc2 += g * (x[i] - m);",
    store: "result[s * 2 * C + c] = acc; result[s * 2 * C + C + c] = acc2;",
  },
};

/**
 * Registers, for the active `webgpu` backend, WGSL kernels for what tfjs-backend-webgpu lacks or
 * runs slowly in our model:
 *
 * - ResNetBatchNormReluTrain / Grad / Infer (worker/model/batch-norm-relu.ts): batch statistics in
 *   two-pass per-channel reductions, the normalisation + ReLU in one elementwise pass; the gradient
 *   in one reduction (Σdy, Σdy·(x−μ)) and one elementwise pass, instead of ~12 generic kernels.
 * - Sum over leading axes (bias and BN gradients): the same reduction, where the stock kernel
 *   transposes first.
 * - Conv2DBackpropFilter: im2col in WGSL, then the backend's own matMul (which splits the long
 *   N·OH·OW dimension across workgroups); the stock kernel runs one thread per filter element, a few
 *   thousand threads each looping over the whole batch.
 * - ResNetAdamWStep: one variable's AdamW update in 3 dispatches instead of 14 generic ones.
 * - Conv2DBackpropInput: the stock matMul-based program (flag WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE off)
 *   instead of the naive loop that is the default.
 *
 * Must be called after the `webgpu` backend is active. Returns the kernel names.
 *
 * @example
 * await startWebgpuBackend(tf, { driver: "system", requireRealGpu: true }); // calls this
 */
export function registerWebgpuTrainingKernels(tf: TF): string[] {
  if (tf.getBackend() !== "webgpu") {
    throw new TypeError(`registerWebgpuTrainingKernels() needs the active backend to be "webgpu", got "${tf.getBackend()}"`);
  }
  tf.env().set("WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE", false);
  const stock = (name: string) => {
    const f = stockKernels.get(name) ?? (tf.getKernel(name, "webgpu")?.kernelFunc as AnyKernelFunc | undefined);
    if (!f) throw new TypeError(`webgpu backend has no ${name} kernel`);
    stockKernels.set(name, f);
    return f;
  };
  const stockSum = stock("Sum");
  const batchMatMul = stock("BatchMatMul");

  const run = (backend: WebgpuBackend, p: Program, inputs: TensorInfo[], u: number[]) =>
    backend.runWebGPUProgram(p, inputs, "float32", u.map((v, i) => ({ type: i < 5 ? "int32" : "float32", data: [v] })));
  const free = (backend: WebgpuBackend, ...ts: TensorInfo[]) => { for (const t of ts) backend.disposeData(t.dataId); };

  /** Column sums of [rows, C] inputs per mode, scaled by `factor`: [C] (or [2C] for bn-relu-grad). */
  const channelReduce = (backend: WebgpuBackend, mode: PartialMode, inputs: TensorInfo[], rows: number, c: number, factor: number) => {
    const splits0 = Math.max(1, Math.min(Math.ceil(rows / 32), Math.floor(32768 / c)));
    const chunk = Math.ceil(rows / splits0);
    const splits = Math.ceil(rows / chunk);
    const m = PARTIAL_BODY[mode];
    const width = mode === "bn-relu-grad" ? 2 * c : c;
    const partialProgram = new Program(`partial_${mode}`, [splits, width], m.names, REDUCE_UNIFORMS, splits * c, `
  let C = uniforms.channels;
  if (index >= uniforms.threads) { return; }
  let s = index / C;
  let c = index - s * C;
  let r0 = s * uniforms.chunk;
  let r1 = min(uniforms.rows, r0 + uniforms.chunk);
  var acc = 0.0;
  ${m.before}
  for (var r = r0; r < r1; r++) {
    let i = r * C + c;
    ${m.step}
  }
  ${m.store}`);
    const partial = run(backend, partialProgram, inputs, [rows, c, chunk, splits, splits * c, 1, 0]);
    const finalProgram = new Program("column_sum", [width], ["partial"], REDUCE_UNIFORMS, width, `
  if (index >= uniforms.threads) { return; }
  var acc = 0.0;
  for (var s = 0; s < uniforms.splits; s++) { acc += partial[s * uniforms.threads + index]; }
  result[index] = acc * uniforms.factor;`);
    const out = run(backend, finalProgram, [partial], [rows, c, chunk, splits, width, factor, 0]);
    free(backend, partial);
    return out;
  };

  const elementwise = (backend: WebgpuBackend, key: string, shape: Shape, names: string[], inputs: TensorInfo[], eps: number, body: string) => {
    const c = shape[shape.length - 1]!;
    const n = prod(shape);
    const p = new Program(key, shape, names, REDUCE_UNIFORMS, n, `
  if (index >= uniforms.threads) { return; }
  let C = uniforms.channels;
  let c = index % C;
  ${body}`);
    return run(backend, p, inputs, [n / c, c, 0, 0, n, 1, eps]);
  };

  const NORMALIZE_RELU = `
  let scale = gamma[c] * inverseSqrt(variance[c] + uniforms.eps);
  result[index] = max((x[index] - mean[c]) * scale + beta[c], 0.0);`;

  const bnReluTrain = ({ inputs, backend, attrs }: {
    inputs: { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo }; backend: WebgpuBackend; attrs: { epsilon: number };
  }) => {
    const { x, gamma, beta } = inputs;
    const c = x.shape[x.shape.length - 1]!;
    const rows = prod(x.shape) / c;
    const mean = channelReduce(backend, "sum", [x], rows, c, 1 / rows);
    const variance = channelReduce(backend, "centered-square", [x, mean], rows, c, 1 / rows);
    const r = elementwise(backend, "bn_relu", x.shape, ["x", "mean", "variance", "gamma", "beta"],
      [x, mean, variance, gamma, beta], attrs.epsilon, NORMALIZE_RELU);
    return [r, mean, variance];
  };

  const bnReluInfer = ({ inputs, backend, attrs }: {
    inputs: { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo; mean: TensorInfo; variance: TensorInfo };
    backend: WebgpuBackend; attrs: { epsilon: number };
  }) => {
    const { x, gamma, beta, mean, variance } = inputs;
    return elementwise(backend, "bn_relu", x.shape, ["x", "mean", "variance", "gamma", "beta"],
      [x, mean, variance, gamma, beta], attrs.epsilon, NORMALIZE_RELU);
  };

  const bnReluGrad = ({ inputs, backend, attrs }: {
    inputs: { dr: TensorInfo; r: TensorInfo; x: TensorInfo; gamma: TensorInfo; mean: TensorInfo; variance: TensorInfo };
    backend: WebgpuBackend; attrs: { epsilon: number };
  }) => {
    const { dr, r, x, gamma, mean, variance } = inputs;
    const c = x.shape[x.shape.length - 1]!;
    const rows = prod(x.shape) / c;
    // sums = [Σ dy | Σ dy·(x − μ)] per channel.
    const sums = channelReduce(backend, "bn-relu-grad", [dr, r, x, mean], rows, c, 1);
    const dx = elementwise(backend, "bn_relu_dx", x.shape, ["dr", "rr", "x", "mean", "variance", "gamma", "sums"],
      [dr, r, x, mean, variance, gamma, sums], attrs.epsilon, `
  let n = f32(uniforms.rows);
  let inv = inverseSqrt(variance[c] + uniforms.eps);
  let g = select(0.0, dr[index], rr[index] > 0.0);
  let xHat = (x[index] - mean[c]) * inv;
  result[index] = gamma[c] * inv * (g - sums[c] / n - xHat * (sums[C + c] * inv) / n);`);
    const dGamma = elementwise(backend, "bn_dgamma", [c], ["sums", "variance"], [sums, variance], attrs.epsilon,
      "result[index] = sums[C + c] * inverseSqrt(variance[c] + uniforms.eps);");
    const dBeta = elementwise(backend, "bn_dbeta", [c], ["sums"], [sums], attrs.epsilon, "result[index] = sums[c];");
    free(backend, sums);
    return [dx, dGamma, dBeta];
  };

  const sum = (args: { inputs: { x: TensorInfo }; backend: WebgpuBackend; attrs: { axis: number | number[]; keepDims: boolean } }) => {
    const { inputs: { x }, backend, attrs } = args;
    const rank = x.shape.length;
    const axes = [...new Set((Array.isArray(attrs.axis) ? attrs.axis : [attrs.axis]).map((a) => (a < 0 ? a + rank : a)))]
      .sort((a, b) => a - b);
    const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
    if (!leading || x.dtype !== "float32") return stockSum(args);
    const kept = x.shape.slice(axes.length);
    const c = prod(kept);
    const out = channelReduce(backend, "sum", [x], prod(x.shape) / c, c, 1);
    return { dataId: out.dataId, shape: attrs.keepDims ? [...axes.map(() => 1), ...kept] : kept, dtype: out.dtype };
  };

  interface ConvAttrs {
    strides: number | [number, number];
    pad: "same" | "valid" | number;
    dataFormat: "NHWC" | "NCHW";
    dimRoundingMode?: "floor" | "round" | "ceil";
    filterShape: Shape;
  }
  const stockFilterGrad = stock("Conv2DBackpropFilter");
  const IM2COL_UNIFORMS = "h : i32, w : i32, ci : i32, kw : i32, oh : i32, ow : i32, stride : i32, top : i32, left : i32, k : i32, threads : i32,";
  const backpropFilter = (args: { inputs: { x: TensorInfo; dy: TensorInfo }; backend: WebgpuBackend; attrs: ConvAttrs }) => {
    const { inputs: { x, dy }, backend, attrs } = args;
    if (attrs.dataFormat !== "NHWC" || x.dtype !== "float32") return stockFilterGrad(args);
    const ci = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number],
      attrs.filterShape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outHeight: oh, outWidth: ow, outChannels: cout,
      filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
    const { top, left } = ci.padInfo;
    if (sh !== sw) return stockFilterGrad(args);
    const p = n * oh * ow;
    const k = kh * kw * cin;
    // cols [P, KH·KW·CI]: row p is the input patch under output pixel p (zeros off the edge). A 1×1
    // stride-1 unpadded conv's patches are x itself.
    let cols = x;
    if (!(kh === 1 && kw === 1 && sh === 1 && top === 0 && left === 0)) {
      const program = new Program("im2col", [p, k], ["x"], IM2COL_UNIFORMS, p * k, `
  if (index >= uniforms.threads) { return; }
  let K = uniforms.k;
  let p = index / K;
  let k = index - p * K;
  let ci = k % uniforms.ci;
  let tap = k / uniforms.ci;
  let a = tap / uniforms.kw;
  let b = tap - a * uniforms.kw;
  let ox = p % uniforms.ow;
  let rest = p / uniforms.ow;
  let oy = rest % uniforms.oh;
  let img = rest / uniforms.oh;
  let iy = oy * uniforms.stride + a - uniforms.top;
  let ix = ox * uniforms.stride + b - uniforms.left;
  var v = 0.0;
  if (iy >= 0 && iy < uniforms.h && ix >= 0 && ix < uniforms.w) {
    v = x[((img * uniforms.h + iy) * uniforms.w + ix) * uniforms.ci + ci];
  }
  result[index] = v;`);
      cols = backend.runWebGPUProgram(program, [x], "float32",
        [h, w, cin, kw, oh, ow, sh, top, left, k, p * k].map((v) => ({ type: "int32" as const, data: [v] })));
    }
    const dw = batchMatMul({
      inputs: { a: { dataId: cols.dataId, shape: [1, p, k], dtype: "float32" }, b: { dataId: dy.dataId, shape: [1, p, cout], dtype: "float32" } },
      backend, attrs: { transposeA: true, transposeB: false },
    }) as TensorInfo;
    if (cols !== x) free(backend, cols);
    return { dataId: dw.dataId, shape: [kh, kw, cin, cout], dtype: dw.dtype };
  };

  const ADAMW_UNIFORMS = "threads : i32, decay : f32, alpha : f32, oneMinusB1 : f32, oneMinusB2 : f32, eps : f32,";
  const adamwStep = ({ inputs, backend, attrs }: {
    inputs: { w: TensorInfo; g: TensorInfo; m: TensorInfo; v: TensorInfo }; backend: WebgpuBackend;
    attrs: { decay: number; alpha: number; beta1: number; beta2: number; epsilon: number };
  }) => {
    const { w, g, m, v } = inputs;
    const n = prod(w.shape);
    const u = [n, attrs.decay, attrs.alpha, 1 - attrs.beta1, 1 - attrs.beta2, attrs.epsilon]
      .map((value, i) => ({ type: i === 0 ? "int32" as const : "float32" as const, data: [value] }));
    const pass = (key: string, names: string[], ins: TensorInfo[], body: string) =>
      backend.runWebGPUProgram(new Program(key, w.shape, names, ADAMW_UNIFORMS, n,
        `  if (index >= uniforms.threads) { return; }\n  ${body}`), ins, "float32", u);
    // The same operations in the same order as AdamW's generic path (keras: decay on the old weights).
    const m2 = pass("adamw_m", ["g", "m"], [g, m], "result[index] = m[index] + (g[index] - m[index]) * uniforms.oneMinusB1;");
    const v2 = pass("adamw_v", ["g", "v"], [g, v], "result[index] = v[index] + (g[index] * g[index] - v[index]) * uniforms.oneMinusB2;");
    const w2 = pass("adamw_w", ["w", "mNew", "vNew"], [w, m2, v2], `let decayed = w[index] - w[index] * uniforms.decay;
  result[index] = decayed - (mNew[index] * uniforms.alpha) / (sqrt(vNew[index]) + uniforms.eps);`);
    return [w2, m2, v2];
  };

  const register = (kernelName: string, kernelFunc: unknown) => {
    if (tf.getKernel(kernelName, "webgpu")) tf.unregisterKernel(kernelName, "webgpu");
    tf.registerKernel({ kernelName, backendName: "webgpu", kernelFunc: kernelFunc as tfjs.KernelFunc });
  };
  register("Sum", sum);
  register("Conv2DBackpropFilter", backpropFilter);
  register(BN_RELU_TRAIN, bnReluTrain);
  register(BN_RELU_GRAD, bnReluGrad);
  register(BN_RELU_INFER, bnReluInfer);
  register(ADAMW_STEP, adamwStep);
  return [ADAMW_STEP, "Sum", "Conv2DBackpropFilter", "Conv2DBackpropInput (matMul)", BN_RELU_TRAIN, BN_RELU_GRAD, BN_RELU_INFER];
}

/** The stock kernels we replace, captured once: registering twice must not wrap our own. */
const stockKernels = new Map<string, AnyKernelFunc>();
