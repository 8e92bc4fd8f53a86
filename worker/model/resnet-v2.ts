import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../tf/tf-types.ts";
import { Rng } from "../data/rng.ts";
import { type BatchNormState, makeBatchNormRelu } from "./batch-norm-relu.ts";
import { type Conv2dBias, makeConv2dBias } from "./conv2d-bias.ts";
import { heNormal } from "./he-normal.ts";

/** Options of {@link buildResNetV2}; the defaults reproduce Atienza's ResNet v2 for CIFAR-10. */
export interface ResNetV2Options {
  /** 9n + 2 (n bottleneck units per stage, 3 stages): 56 is the seed's ResNet56v2, 20 and 11 are small. */
  depth: number;
  /** Kernel size of the first unit's projection shortcut: 1 (Atienza) or 3. Default 1. */
  shortcutKernel?: 1 | 3;
  /**
   * `atienza` (default): the first unit of stages 1 and 2 keeps the previous stage's maps as its
   * bottleneck width and doubles them at its output. `extreme` (the seed's wish): it halves them, and
   * the stage's output has 4× its bottleneck maps (so stage outputs stay 64/128/256).
   */
  bottleneck?: "atienza" | "extreme";
  /** `avgpool` (default): global average pooling before the classifier; `flatten`: none. */
  head?: "avgpool" | "flatten";
  /** Square input side, 8..64; default 32 (CIFAR-10). The average pool always spans the final map. */
  imageSize?: number;
  /** Input channels; default 3. */
  channels?: number;
  /** Classes; default 10. */
  numClasses?: number;
  /** Seeds the initial weights (same seed → bit-identical weights on every backend). Default 1. */
  seed?: number;
}

export type ResolvedResNetV2Options = Required<ResNetV2Options>;

/** One row of the layer summary, in the order of the forward pass (Keras `model.summary()` style). */
export interface LayerRow {
  readonly name: string;
  /** "InputLayer", "Conv2D", "BatchNormalization", "ReLU", "Add", "GlobalAveragePooling2D", "Flatten", "Dense". */
  readonly type: string;
  /** Conv2D: "3×3/1" (kernel/stride); others "". */
  readonly config: string;
  /** Output shape without the batch axis, e.g. [32, 32, 16] or [10]. */
  readonly outputShape: readonly number[];
  readonly params: number;
  readonly trainableParams: number;
}

/** A named weight, in a stable order: checkpoints and the CLI refer to weights by these names. */
export interface NamedWeight {
  /** Stable across processes, e.g. "stage1/unit0/conv1/kernel", "stem/bn/moving_mean". */
  readonly name: string;
  readonly kind: "kernel" | "bias" | "gamma" | "beta" | "moving_mean" | "moving_variance";
  readonly trainable: boolean;
  readonly variable: tfjs.Variable;
}

export interface ParamCounts {
  readonly total: number;
  readonly trainable: number;
  readonly nonTrainable: number;
}

export interface ForwardOptions {
  /** true: batch statistics, and the BN moving mean/variance are updated (Keras `training=True`). */
  training: boolean;
  /** Called with each layer's name and output (do not keep or dispose it), in layerTable() order. */
  trace?: (name: string, output: tfjs.Tensor) => void;
}

/** The model: variables plus a forward pass; it satisfies worker/train's TrainableModel. */
export interface ResNetModel {
  readonly options: Readonly<ResolvedResNetV2Options>;
  /** Every weight with its stable name: trainable ones first in forward order, then BN moving stats. */
  readonly weights: readonly NamedWeight[];
  /** Kernels, biases, γ, β in forward order (what the optimizer updates and the gradients are for). */
  readonly trainableVariables: readonly tfjs.Variable[];
  /** BN moving mean and variance, in forward order. */
  readonly nonTrainableVariables: readonly tfjs.Variable[];
  /** The convolution kernels (rank 4): what Atienza's l2 regularizer covers. */
  readonly regularizedKernels: readonly tfjs.Variable[];
  /**
   * x: [N, imageSize, imageSize, channels] float32 → logits [N, numClasses] (the softmax of Atienza's
   * Dense layer is left to the loss, as Keras does for a softmax output). Intermediates are disposed;
   * call it inside tf.variableGrads / tf.grads to train.
   */
  forward(x: tfjs.Tensor4D, options: ForwardOptions): tfjs.Tensor2D;
  /** Softmax probabilities in inference mode. */
  predict(x: tfjs.Tensor4D): tfjs.Tensor2D;
  layerTable(): LayerRow[];
  paramCounts(): ParamCounts;
  dispose(): void;
}

interface Conv {
  readonly name: string;
  readonly kernel: tfjs.Variable;
  readonly bias: tfjs.Variable;
  readonly op: Conv2dBias;
}

interface Unit {
  readonly name: string;
  readonly preBn: BatchNormState | null;
  readonly conv1: Conv;
  readonly bn2: BatchNormState;
  readonly conv2: Conv;
  readonly bn3: BatchNormState;
  readonly conv3: Conv;
  readonly shortcut: Conv | null;
}

let modelSerial = 0;

/**
 * Builds R. Atienza's ResNet v2 (Keras example "cifar10_resnet", v2 bottleneck layout) as plain
 * tf.Variables and a hand-written forward pass, so that memory and gradients are under our control
 * (no tfjs-layers): stem conv3×3(16)-BN-ReLU; 3 stages of n = (depth − 2)/9 units
 * BN-ReLU-conv1×1(f_in, stride) → BN-ReLU-conv3×3(f_in) → BN-ReLU-conv1×1(f_out), plus a projection
 * shortcut conv (no BN) in each stage's first unit; the very first unit has no BN-ReLU before its
 * first conv; head BN-ReLU → average pool → Dense. Keras initialisers: he_normal kernels (truncated,
 * see heNormal), zero biases, γ = 1, β = 0, moving mean 0, variance 1; BN momentum 0.99, ε 1e-3.
 *
 * @example
 * const model = buildResNetV2(tf, { depth: 56 });
 * model.paramCounts(); // { total: 1673738, trainable: 1663338, nonTrainable: 10400 }
 * const { value: loss, grads } = tf.variableGrads(() =>
 *   tf.losses.softmaxCrossEntropy(labels, model.forward(x, { training: true })));
 */
export function buildResNetV2(tf: TF, options: ResNetV2Options): ResNetModel {
  const opts = resolveOptions(options);
  const prefix = `resnet_v2_${++modelSerial}/`;
  const weights: NamedWeight[] = [];
  const movingWeights: NamedWeight[] = [];
  const rows: LayerRow[] = [];
  const initRng = new Rng(Rng.derive(opts.seed, "resnet-v2-init"));

  const variable = (name: string, kind: NamedWeight["kind"], shape: number[], values: Float32Array) => {
    const trainable = kind !== "moving_mean" && kind !== "moving_variance";
    const initial = tf.tensor(values, shape, "float32");
    const v = tf.variable(initial, trainable, prefix + name);
    // The variable holds its own reference to the data; the initial tensor would otherwise outlive dispose().
    initial.dispose();
    (trainable ? weights : movingWeights).push({ name, kind, trainable, variable: v });
    return v;
  };
  const fill = (n: number, value: number) => new Float32Array(n).fill(value);
  const row = (name: string, type: string, outputShape: number[], params = 0, trainableParams = params, config = "") =>
    rows.push({ name, type, config, outputShape, params, trainableParams });

  const convOps = new Map<number, Conv2dBias>();
  const convOp = (stride: 1 | 2) => {
    let op = convOps.get(stride);
    if (!op) convOps.set(stride, (op = makeConv2dBias(tf, stride)));
    return op;
  };
  let size = opts.imageSize;
  const conv = (name: string, k: number, stride: 1 | 2, cin: number, cout: number): Conv => {
    const fanIn = k * k * cin;
    const kernel = variable(`${name}/kernel`, "kernel", [k, k, cin, cout], heNormal(fanIn * cout, fanIn, initRng.uint32()));
    const bias = variable(`${name}/bias`, "bias", [cout], fill(cout, 0));
    const outSize = Math.ceil(size / stride);
    row(name, "Conv2D", [outSize, outSize, cout], fanIn * cout + cout, fanIn * cout + cout, `${k}×${k}/${stride}`);
    return { name, kernel, bias, op: convOp(stride) };
  };
  const bnRows = (name: string, c: number, s: number) => {
    row(`${name}`, "BatchNormalization", [s, s, c], 4 * c, 2 * c);
    row(`${name}/relu`, "ReLU", [s, s, c]);
  };
  const batchNorm = (name: string, c: number): BatchNormState => {
    const state: BatchNormState = {
      gamma: variable(`${name}/gamma`, "gamma", [c], fill(c, 1)),
      beta: variable(`${name}/beta`, "beta", [c], fill(c, 0)),
      movingMean: variable(`${name}/moving_mean`, "moving_mean", [c], fill(c, 0)),
      movingVariance: variable(`${name}/moving_variance`, "moving_variance", [c], fill(c, 1)),
      momentum: 0.99,
      epsilon: 1e-3,
    };
    return state;
  };

  row("input", "InputLayer", [size, size, opts.channels]);
  const stemConv = conv("stem/conv", 3, 1, opts.channels, 16);
  const stemBn = batchNorm("stem/bn", 16);
  bnRows("stem/bn", 16, size);

  const n = (opts.depth - 2) / 9;
  const units: Unit[] = [];
  let channels = 16; // the stream's maps
  let fIn = 16;
  for (let stage = 0; stage < 3; stage++) {
    let fOut: number;
    if (stage === 0) fOut = 4 * fIn;
    else if (opts.bottleneck === "extreme") {
      fIn = channels / 2;
      fOut = 4 * fIn;
    } else fOut = 2 * fIn;
    for (let u = 0; u < n; u++) {
      const name = `stage${stage}/unit${u}`;
      const first = u === 0;
      const stride: 1 | 2 = first && stage > 0 ? 2 : 1;
      let preBn: BatchNormState | null = null;
      if (!(stage === 0 && first)) {
        preBn = batchNorm(`${name}/bn1`, channels);
        bnRows(`${name}/bn1`, channels, size);
      }
      const conv1 = conv(`${name}/conv1`, 1, stride, channels, fIn);
      const inSize = size;
      size = Math.ceil(size / stride);
      const bn2 = batchNorm(`${name}/bn2`, fIn);
      bnRows(`${name}/bn2`, fIn, size);
      const conv2 = conv(`${name}/conv2`, 3, 1, fIn, fIn);
      const bn3 = batchNorm(`${name}/bn3`, fIn);
      bnRows(`${name}/bn3`, fIn, size);
      const conv3 = conv(`${name}/conv3`, 1, 1, fIn, fOut);
      let shortcut: Conv | null = null;
      if (first) {
        const outSize = size;
        size = inSize;
        shortcut = conv(`${name}/shortcut`, opts.shortcutKernel, stride, channels, fOut);
        size = outSize;
      }
      row(`${name}/add`, "Add", [size, size, fOut]);
      units.push({ name, preBn, conv1, bn2, conv2, bn3, conv3, shortcut });
      channels = fOut;
    }
    fIn = fOut;
  }
  const headBn = batchNorm("head/bn", channels);
  bnRows("head/bn", channels, size);
  const features = opts.head === "avgpool" ? channels : size * size * channels;
  if (opts.head === "avgpool") row("head/pool", "GlobalAveragePooling2D", [channels]);
  else row("head/flatten", "Flatten", [features]);
  const denseKernel = variable("head/dense/kernel", "kernel", [features, opts.numClasses],
    heNormal(features * opts.numClasses, features, initRng.uint32()));
  const denseBias = variable("head/dense/bias", "bias", [opts.numClasses], fill(opts.numClasses, 0));
  row("head/dense", "Dense", [opts.numClasses], features * opts.numClasses + opts.numClasses);

  const allWeights = [...weights, ...movingWeights];
  const bnRelu = makeBatchNormRelu(tf);
  const finalSize = size;

  const forward = (x: tfjs.Tensor4D, fo: ForwardOptions): tfjs.Tensor2D => {
    const [, h, w, c] = x.shape;
    if (h !== opts.imageSize || w !== opts.imageSize || c !== opts.channels) {
      throw new RangeError(
        `ResNetV2 forward expects input [N, ${opts.imageSize}, ${opts.imageSize}, ${opts.channels}], got [${x.shape.join(", ")}]`,
      );
    }
    const training = fo.training;
    const trace = fo.trace ?? (() => {});
    return tf.tidy(() => {
      trace("input", x);
      // Each intermediate is disposed as soon as the next layer has consumed it: backprop keeps its
      // own references (customGrad's save), so this only lowers peak memory.
      const runConv = (cv: Conv, input: tfjs.Tensor4D) => {
        const out = cv.op(input, cv.kernel as tfjs.Tensor4D, cv.bias as tfjs.Tensor1D);
        trace(cv.name, out);
        return out;
      };
      const runBn = (name: string, bn: BatchNormState, input: tfjs.Tensor4D) => {
        const out = bnRelu(input, bn, training);
        trace(name, out);
        trace(`${name}/relu`, out);
        return out;
      };
      let t = runConv(stemConv, x);
      let stream = runBn("stem/bn", stemBn, t);
      t.dispose();
      for (const unit of units) {
        let hIn = unit.preBn ? runBn(`${unit.name}/bn1`, unit.preBn, stream) : stream;
        t = runConv(unit.conv1, hIn);
        if (hIn !== stream) hIn.dispose();
        hIn = runBn(`${unit.name}/bn2`, unit.bn2, t);
        t.dispose();
        t = runConv(unit.conv2, hIn);
        hIn.dispose();
        hIn = runBn(`${unit.name}/bn3`, unit.bn3, t);
        t.dispose();
        t = runConv(unit.conv3, hIn);
        hIn.dispose();
        const short = unit.shortcut ? runConv(unit.shortcut, stream) : stream;
        const sum = tf.add(short, t) as tfjs.Tensor4D;
        trace(`${unit.name}/add`, sum);
        t.dispose();
        if (short !== stream) short.dispose();
        stream.dispose();
        stream = sum;
      }
      const r = runBn("head/bn", headBn, stream);
      stream.dispose();
      let f: tfjs.Tensor2D;
      if (opts.head === "avgpool") {
        f = tf.mean(r, [1, 2]) as tfjs.Tensor2D;
        trace("head/pool", f);
      } else {
        f = tf.reshape(r, [r.shape[0], finalSize * finalSize * channels]);
        trace("head/flatten", f);
      }
      r.dispose();
      const logits = tf.add(tf.matMul(f, denseKernel), denseBias) as tfjs.Tensor2D;
      trace("head/dense", logits);
      return logits;
    });
  };

  const counts = (): ParamCounts => {
    let total = 0;
    let trainable = 0;
    for (const w of allWeights) {
      total += w.variable.size;
      if (w.trainable) trainable += w.variable.size;
    }
    return { total, trainable, nonTrainable: total - trainable };
  };

  return {
    options: Object.freeze({ ...opts }),
    weights: allWeights,
    trainableVariables: weights.map((w) => w.variable),
    nonTrainableVariables: movingWeights.map((w) => w.variable),
    regularizedKernels: weights.filter((w) => w.kind === "kernel" && w.variable.rank === 4).map((w) => w.variable),
    forward,
    predict: (x) => tf.tidy(() => tf.softmax(forward(x, { training: false }))),
    layerTable: () => rows.map((r) => ({ ...r })),
    paramCounts: counts,
    dispose: () => {
      for (const w of allWeights) w.variable.dispose();
    },
  };
}

/** Fills defaults and checks ranges; throws RangeError naming the option, the rule and the value. */
export function resolveOptions(options: ResNetV2Options): ResolvedResNetV2Options {
  const o: ResolvedResNetV2Options = {
    depth: options.depth,
    shortcutKernel: options.shortcutKernel ?? 1,
    bottleneck: options.bottleneck ?? "atienza",
    head: options.head ?? "avgpool",
    imageSize: options.imageSize ?? 32,
    channels: options.channels ?? 3,
    numClasses: options.numClasses ?? 10,
    seed: options.seed ?? 1,
  };
  if (!Number.isInteger(o.depth) || o.depth < 11 || (o.depth - 2) % 9 !== 0) {
    throw new RangeError(`ResNetV2 depth must be 9n+2 with n ≥ 1 (11, 20, 29, …, 56, …), got ${o.depth}`);
  }
  if (o.shortcutKernel !== 1 && o.shortcutKernel !== 3) {
    throw new RangeError(`ResNetV2 shortcutKernel must be 1 or 3, got ${String(o.shortcutKernel)}`);
  }
  if (o.bottleneck !== "atienza" && o.bottleneck !== "extreme") {
    throw new RangeError(`ResNetV2 bottleneck must be "atienza" or "extreme", got ${JSON.stringify(o.bottleneck)}`);
  }
  if (o.head !== "avgpool" && o.head !== "flatten") {
    throw new RangeError(`ResNetV2 head must be "avgpool" or "flatten", got ${JSON.stringify(o.head)}`);
  }
  if (!Number.isInteger(o.imageSize) || o.imageSize < 8 || o.imageSize > 64) {
    throw new RangeError(`ResNetV2 imageSize must be a whole number from 8 to 64, got ${o.imageSize}`);
  }
  for (const [key, value] of [["channels", o.channels], ["numClasses", o.numClasses]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`ResNetV2 ${key} must be a whole number ≥ 1, got ${value}`);
  }
  if (!Number.isFinite(o.seed)) throw new RangeError(`ResNetV2 seed must be a finite number, got ${o.seed}`);
  return o;
}
