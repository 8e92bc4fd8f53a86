import type * as tfjs from "@tensorflow/tfjs";
import type { NativeAddon } from "./native-addon.ts";
import type { TF } from "./tf-types.ts";
import {
  BN_RELU_GRAD, BN_RELU_INFER, BN_RELU_TRAIN, type BnReluGradArgs, type BnReluInferArgs, type BnReluTrainArgs, leadingSumAxes,
  type RegisteredKernels,
} from "./wasm-kernels.ts";
// The fused AdamW update's kernel contract (inputs w, g, m, v; attrs decay, alpha, beta1, beta2,
// epsilon; outputs w', m', v'), shared with the webgpu backend; worker/train/adamw.ts uses it.
import { ADAMW_STEP } from "./webgpu-kernels.ts";

type TensorInfo = tfjs.TensorInfo;
type Shape = number[];
type AnyKernelFunc = (args: { inputs: object; backend: unknown; attrs?: object }) => TensorInfo | TensorInfo[];


/** The parts of tfjs-backend-wasm's BackendWasm that the kernels use. */
interface WasmBackend {
  wasm: { asm?: { memory?: WebAssembly.Memory } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: Shape, dtype: "float32" | "int32"): TensorInfo;
}

export interface NativeKernelOptions {
  /** oneDNN's thread count (CPU_THREADS). */
  threads: number;
  /** Convolution layout inside oneDNN (default "nhwc"; see worker/native/src/conv.cc). */
  layout?: "nhwc" | "blocked" | "plain";
}

/** What registerNativeKernels() did; restore() puts the kernels it replaced back (tests compare both). */
export interface NativeKernels extends RegisteredKernels {
  restore(): void;
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** The registration in force: registering again only changes threads/layout (no wrapping of our own kernels). */
let active: { backend: unknown; handle: NativeKernels } | undefined;

interface ConvAttrs {
  strides: number | [number, number];
  pad: "same" | "valid" | number | number[][];
  dataFormat: "NHWC" | "NCHW" | "channelsLast";
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
  inputShape?: Shape;
  filterShape?: Shape;
  activation?: string;
}

/**
 * Registers, on the active `wasm` backend (after registerWasmTrainingKernels), kernels that run in
 * the oneDNN addon on the wasm heap in place: the addon receives the heap's ArrayBuffer and the byte
 * offsets of tfjs's tensors, so nothing is copied and tfjs keeps owning every buffer.
 *
 * - Conv2D, FusedConv2D (bias; linear or relu), Conv2DBackpropInput, Conv2DBackpropFilter: oneDNN
 *   convolutions, primitives cached by shape (NHWC, dilation 1; anything else goes to the kernel
 *   that was registered before).
 * - ResNetBatchNormRelu{Train,Grad,Infer}: oneDNN batch normalization with fused ReLU.
 * - Sum over leading axes (bias and BN gradients), Add of equal shapes (the residual stream and
 *   gradient accumulation) and the AdamW update (ResNetAdamWStep): OpenMP loops on every thread.
 *
 * Everything else stays the wasm backend's: small ops, the loss, reshapes.
 *
 * @example
 * const k = registerNativeKernels(tf, loadNativeAddon(), { threads: 2 });
 * k.kernels; // ["Conv2D", "FusedConv2D", ...]
 */
export function registerNativeKernels(tf: TF, addon: NativeAddon, options: NativeKernelOptions): NativeKernels {
  if (tf.getBackend() !== "wasm") {
    throw new TypeError(`registerNativeKernels() needs the active backend to be "wasm", got "${tf.getBackend()}"`);
  }
  if (!Number.isInteger(options.threads) || options.threads < 1) {
    throw new RangeError(`native kernels need a whole number of threads ≥ 1, got ${options.threads}`);
  }
  addon.setThreads(options.threads);
  addon.setLayout(options.layout ?? "nhwc");
  const backend = tf.backend() as unknown as WasmBackend;
  if (active?.backend === backend) return active.handle;
  const memory = backend.wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) throw new TypeError("registerNativeKernels(): the wasm backend does not expose its memory");

  const names = ["Conv2D", "FusedConv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "Sum", "Add",
    BN_RELU_TRAIN, BN_RELU_GRAD, BN_RELU_INFER, ADAMW_STEP];
  const previous = new Map(names.map((n) => [n, tf.getKernel(n, "wasm")]));
  const fallback = (name: string, args: object) => {
    const f = previous.get(name)?.kernelFunc as AnyKernelFunc | undefined;
    if (!f) throw new TypeError(`native ${name}: case not supported and the wasm backend has no ${name} kernel`);
    return f({ ...(args as { inputs: object }), backend });
  };

  const ptr = (t: TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  const out = (shape: Shape) => backend.makeOutput(shape, "float32");
  // Read after every allocation: makeOutput may grow the heap, which detaches the previous buffer.
  const heap = () => memory.buffer;
  const f32 = (...ts: TensorInfo[]) => ts.every((t) => t.dtype === "float32");

  /** Shape arguments of the addon's convolutions, or null when oneDNN's path does not apply. */
  const convShape = (xShape: Shape, fShape: Shape, a: ConvAttrs) => {
    if (a.dataFormat !== "NHWC" && a.dataFormat !== "channelsLast") return null;
    const d = a.dilations ?? 1;
    if ((Array.isArray(d) ? d : [d, d]).some((v) => v !== 1)) return null;
    const ci = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number],
      fShape as [number, number, number, number], a.strides, 1, a.pad as "same", a.dimRoundingMode);
    const { top, left } = ci.padInfo;
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outChannels: cout, outHeight: oh, outWidth: ow,
      filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
    // The bottom/right padding that makes the output size come out; below 0 means input rows that no
    // output reads, which oneDNN's flooring size formula allows for less than one stride.
    if ((oh - 1) * sh + kh - h - top <= -sh || (ow - 1) * sw + kw - w - left <= -sw) return null;
    return { outShape: [n, oh, ow, cout], dims: [n, h, w, cin, cout, kh, kw, sh, sw, top, left, oh, ow] };
  };

  const conv = (name: "Conv2D" | "FusedConv2D") => (args: {
    inputs: { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
    attrs: ConvAttrs;
  }) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    const act = args.attrs.activation ?? "linear";
    const s = convShape(x.shape, filter.shape, args.attrs);
    const biasOk = !bias || (bias.shape.length === 1 && bias.shape[0] === filter.shape[3]);
    if (!s || !biasOk || preluActivationWeights || (act !== "linear" && act !== "relu") || !f32(x, filter)) {
      return fallback(name, args);
    }
    const y = out(s.outShape);
    addon.convForward(heap(), ptr(x), ptr(filter), bias ? ptr(bias) : -1, ptr(y), ...s.dims, act === "relu" ? 1 : 0);
    return y;
  };

  const backpropInput = (args: { inputs: { dy: TensorInfo; filter: TensorInfo }; attrs: ConvAttrs }) => {
    const { dy, filter } = args.inputs;
    const s = convShape(args.attrs.inputShape!, filter.shape, args.attrs);
    if (!s || !f32(dy, filter)) return fallback("Conv2DBackpropInput", args);
    const dx = out(args.attrs.inputShape!);
    addon.convBackwardData(heap(), ptr(dy), ptr(filter), ptr(dx), ...s.dims);
    return dx;
  };

  const backpropFilter = (args: { inputs: { x: TensorInfo; dy: TensorInfo }; attrs: ConvAttrs }) => {
    const { x, dy } = args.inputs;
    const s = convShape(x.shape, args.attrs.filterShape!, args.attrs);
    if (!s || !f32(x, dy)) return fallback("Conv2DBackpropFilter", args);
    const dw = out(args.attrs.filterShape!);
    addon.convBackwardWeights(heap(), ptr(x), ptr(dy), ptr(dw), -1, ...s.dims);
    return dw;
  };

  const sum = (args: { inputs: { x: TensorInfo }; attrs: { axis: number | number[]; keepDims: boolean } }) => {
    const { x } = args.inputs;
    const lead = leadingSumAxes(x.shape, args.attrs.axis);
    if (lead === 0 || !f32(x)) return fallback("Sum", args);
    const kept = x.shape.slice(lead);
    const result = out(args.attrs.keepDims ? [...x.shape.slice(0, lead).map(() => 1), ...kept] : kept);
    addon.channelSum(heap(), ptr(x), prod(x.shape.slice(0, lead)), prod(kept), ptr(result));
    return result;
  };

  const add = (args: { inputs: { a: TensorInfo; b: TensorInfo } }) => {
    const { a, b } = args.inputs;
    const same = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
    // Small adds (scalars, per-channel vectors) cost more to call out than to do in wasm.
    if (!same || !f32(a, b) || prod(a.shape) < 4096) return fallback("Add", args);
    const r = out(a.shape);
    addon.add(heap(), ptr(a), ptr(b), ptr(r), prod(a.shape));
    return r;
  };

  const rowsAndChannels = (x: TensorInfo) => {
    const c = x.shape[x.shape.length - 1]!;
    return [prod(x.shape) / c, c] as const;
  };
  // Sizes of the ReLU masks by shape (a ResNet has a handful): one addon call per shape, not per step.
  const words = new Map<string, number>();
  const workspaceWords = (rows: number, c: number, epsilon: number) => {
    const key = `${rows},${c},${epsilon}`;
    let n = words.get(key);
    if (n === undefined) words.set(key, (n = Math.ceil(addon.bnReluWorkspaceBytes(rows, c, epsilon) / 4)));
    return n;
  };
  const bnReluTrain = ({ inputs, attrs }: BnReluTrainArgs) => {
    const { x, gamma, beta } = inputs;
    const [rows, c] = rowsAndChannels(x);
    const r = out(x.shape);
    const mean = out([c]);
    const variance = out([c]);
    // oneDNN's ReLU mask (a bit per element), kept as an int32 tensor for the gradient.
    const workspace = backend.makeOutput([workspaceWords(rows, c, attrs.epsilon)], "int32");
    addon.bnReluTrain(heap(), ptr(x), ptr(gamma), ptr(beta), ptr(r), ptr(mean), ptr(variance), ptr(workspace), rows, c,
      attrs.epsilon);
    return [r, mean, variance, workspace];
  };
  const bnReluGrad = (args: BnReluGradArgs) => {
    const { inputs: { dr, x, gamma, mean, variance, workspace }, attrs } = args;
    if (!workspace) return fallback(BN_RELU_GRAD, args);
    const [rows, c] = rowsAndChannels(x);
    const dx = out(x.shape);
    const dGamma = out([c]);
    const dBeta = out([c]);
    addon.bnReluGrad(heap(), ptr(dr), ptr(workspace), ptr(x), ptr(gamma), ptr(mean), ptr(variance), ptr(dx), ptr(dGamma),
      ptr(dBeta), rows, c, attrs.epsilon);
    return [dx, dGamma, dBeta];
  };
  const bnReluInfer = ({ inputs, attrs }: BnReluInferArgs) => {
    const { x, gamma, beta, mean, variance } = inputs;
    const [rows, c] = rowsAndChannels(x);
    const r = out(x.shape);
    addon.bnReluInfer(heap(), ptr(x), ptr(gamma), ptr(beta), ptr(mean), ptr(variance), ptr(r), rows, c, attrs.epsilon);
    return r;
  };

  // inputs w, g, m, v → [w', m', v'] (new buffers: variables may share theirs with saved tensors).
  const adamw = ({ inputs, attrs }: {
    inputs: { w: TensorInfo; g: TensorInfo; m: TensorInfo; v: TensorInfo };
    attrs: { decay: number; beta1: number; beta2: number; alpha: number; epsilon: number };
  }) => {
    const { w, g, m, v } = inputs;
    const [w2, m2, v2] = [out(w.shape), out(w.shape), out(w.shape)];
    addon.adamw(heap(), ptr(w), ptr(g), ptr(m), ptr(v), ptr(w2!), ptr(m2!), ptr(v2!), prod(w.shape),
      attrs.decay, attrs.beta1, attrs.beta2, attrs.alpha, attrs.epsilon);
    return [w2!, m2!, v2!];
  };

  const register = (kernelName: string, kernelFunc: unknown) => {
    if (tf.getKernel(kernelName, "wasm")) tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc: kernelFunc as tfjs.KernelFunc });
  };
  register("Conv2D", conv("Conv2D"));
  register("FusedConv2D", conv("FusedConv2D"));
  register("Conv2DBackpropInput", backpropInput);
  register("Conv2DBackpropFilter", backpropFilter);
  register("Sum", sum);
  register("Add", add);
  register(BN_RELU_TRAIN, bnReluTrain);
  register(BN_RELU_GRAD, bnReluGrad);
  register(BN_RELU_INFER, bnReluInfer);
  register(ADAMW_STEP, adamw);
  const handle: NativeKernels = {
    backend: "wasm",
    kernels: names,
    restore: () => {
      for (const [name, config] of previous) {
        tf.unregisterKernel(name, "wasm");
        if (config) tf.registerKernel(config);
      }
      active = undefined;
    },
  };
  active = { backend, handle };
  return handle;
}
