/**
 * A trained ResNet as a Keras-topology TensorFlow.js LayersModel: the functional config that
 * Atienza's `resnet_v2()` builds in Keras (layer names as Keras gives them: input_1, conv2d,
 * conv2d_1, batch_normalization, activation, add, average_pooling2d, flatten, dense), and our weights
 * under the Keras weight names (`conv2d/kernel`, `batch_normalization/moving_mean`, …), in the order
 * of the model's layers. `tf.loadLayersModel` loads the result with tfjs-layers alone, and
 * `tensorflowjs_converter --input_format=tfjs_layers_model --output_format=keras` turns it into an .h5.
 *
 * Pure: the topology is derived from the model's own layer table ({@link LayerRow}, forward order),
 * so it follows every model option (shortcut kernel, extreme bottleneck, flatten head, input shape)
 * by construction rather than by a second copy of the architecture. The wiring the table implies:
 * each layer reads the one before it, except a unit's projection shortcut, which reads the unit's
 * input (the last `add`, or the stem), and each `add`, which sums that shortcut (or the unit's input)
 * with the unit's last convolution.
 *
 * @example
 * const model = buildResNetV2(tf, { depth: 56 });
 * const keras = kerasTopology(model.layerTable(), { l2: 0 });
 * keras.weights[0]; // { name: "conv2d/kernel", source: "stem/conv/kernel", shape: [3, 3, 3, 16] }
 */
import type { LayerRow } from "./resnet-v2.ts";

/** The Keras version whose `model.to_json()` this mirrors (tf.keras 2.x: the converter's Keras). */
export const KERAS_VERSION = "2.15.0";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One entry of a Keras functional config's `layers`. */
export interface KerasLayerConfig {
  class_name: string;
  config: { [key: string]: Json };
  name: string;
  inbound_nodes: [string, number, number, Record<string, never>][][];
}

/** The `modelTopology` of a model.json: what `keras.Model.to_json()` writes. */
export interface KerasModelTopology {
  class_name: "Functional";
  config: {
    name: string;
    trainable: true;
    layers: KerasLayerConfig[];
    input_layers: [string, number, number][];
    output_layers: [string, number, number][];
  };
  keras_version: string;
  backend: "tensorflow";
}

/** A weight as Keras names it, with the name of our variable that holds its values. */
export interface KerasWeight {
  /** `conv2d_3/kernel`: what weightsManifest and the .h5 file call it. */
  name: string;
  /** Our stable weight name (`stage0/unit0/conv3/kernel`). */
  source: string;
  shape: number[];
}

export interface KerasTopology {
  modelTopology: KerasModelTopology;
  /** Every weight in Keras's `model.weights` order (layer by layer, kernel/bias, γ/β/mean/variance). */
  weights: KerasWeight[];
  /** Input shape without the batch axis, [H, W, C]. */
  inputShape: [number, number, number];
  numClasses: number;
  params: number;
}

export interface KerasTopologyOptions {
  /** Keras `l2(l2)` on every convolution kernel, as the run trained with (0: no regularizer). */
  l2: number;
  /** The functional model's name (Keras's default "model"). */
  name?: string;
}

const CONV_CONFIG = /^(\d+)×\1\/([12])$/;

/**
 * Builds the Keras functional config and weight map from a ResNet v2 layer table. Throws RangeError
 * when the table is not one of the shapes resnet-v2.ts builds (the wiring would be wrong otherwise).
 */
export function kerasTopology(rows: readonly LayerRow[], options: KerasTopologyOptions): KerasTopology {
  const input = rows[0];
  if (input?.type !== "InputLayer" || input.outputShape.length !== 3) {
    throw new RangeError(`a ResNet layer table starts with an InputLayer of shape [H, W, C], got ${input?.type ?? "nothing"}`);
  }
  const inputShape = [...input.outputShape] as [number, number, number];
  const counters = new Map<string, number>();
  /** Keras's automatic names: the first layer of a kind is `conv2d`, the next `conv2d_1`, … */
  const kerasName = (base: string) => {
    const n = counters.get(base) ?? 0;
    counters.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  };
  const layers: KerasLayerConfig[] = [];
  const weights: KerasWeight[] = [];
  const common = (name: string) => ({ name, trainable: true, dtype: "float32" });
  const add = (class_name: string, name: string, config: { [key: string]: Json }, inputs: string[]) => {
    layers.push({ class_name, config: { ...common(name), ...config }, name, inbound_nodes: [inputs.map((i) => [i, 0, 0, {}])] });
    return name;
  };
  const weight = (layer: string, row: LayerRow, kind: string, shape: number[]) =>
    weights.push({ name: `${layer}/${kind}`, source: `${row.name}/${kind}`, shape });
  const regularizer: Json = options.l2 > 0 ? { class_name: "L1L2", config: { l1: 0, l2: options.l2 } } : null;
  const initializer = (class_name: string): Json => ({ class_name, config: class_name === "HeNormal" ? { seed: null } : {} });

  // Keras 2 names an Input "input_1" (a per-session counter starting at 1, unlike other layers).
  const inputName = "input_1";
  layers.push({
    class_name: "InputLayer",
    config: { batch_input_shape: [null, ...inputShape], dtype: "float32", sparse: false, ragged: false, name: inputName },
    name: inputName,
    inbound_nodes: [],
  });

  let previous = inputName; // the output the next layer reads
  let previousShape: readonly number[] = inputShape;
  let unitInput = inputName; // the stream at the current unit's start
  let unitInputShape: readonly number[] = inputShape;
  let unitPrefix = "";
  let shortcut: string | null = null;
  let lastConv: string | null = null;
  let numClasses = 0;
  for (const row of rows.slice(1)) {
    const unit = /^(stage\d+\/unit\d+)\//.exec(row.name)?.[1] ?? "";
    if (unit !== unitPrefix) {
      // A new unit reads the stream: the last add, or the stem's activation for the first unit.
      unitPrefix = unit;
      unitInput = previous;
      unitInputShape = previousShape;
      shortcut = null;
    }
    switch (row.type) {
      case "Conv2D": {
        const m = CONV_CONFIG.exec(row.config);
        if (!m) throw new RangeError(`layer ${row.name}: expected a config like "3×3/1", got ${JSON.stringify(row.config)}`);
        const k = Number(m[1]);
        const stride = Number(m[2]);
        const filters = row.outputShape[2]!;
        const isShortcut = row.name.endsWith("/shortcut");
        const source = isShortcut ? unitInput : previous;
        const cin = (isShortcut ? unitInputShape : previousShape)[2]!;
        const name = add("Conv2D", kerasName("conv2d"), {
          filters,
          kernel_size: [k, k],
          strides: [stride, stride],
          padding: "same",
          data_format: "channels_last",
          dilation_rate: [1, 1],
          groups: 1,
          activation: "linear",
          use_bias: true,
          kernel_initializer: initializer("HeNormal"),
          bias_initializer: initializer("Zeros"),
          kernel_regularizer: regularizer,
          bias_regularizer: null,
          activity_regularizer: null,
          kernel_constraint: null,
          bias_constraint: null,
        }, [source]);
        weight(name, row, "kernel", [k, k, cin, filters]);
        weight(name, row, "bias", [filters]);
        if (isShortcut) shortcut = name;
        else {
          lastConv = name;
          previous = name;
          previousShape = row.outputShape;
        }
        break;
      }
      case "BatchNormalization": {
        const c = row.outputShape[2]!;
        const name = add("BatchNormalization", kerasName("batch_normalization"), {
          axis: 3,
          momentum: 0.99,
          epsilon: 0.001,
          center: true,
          scale: true,
          beta_initializer: initializer("Zeros"),
          gamma_initializer: initializer("Ones"),
          moving_mean_initializer: initializer("Zeros"),
          moving_variance_initializer: initializer("Ones"),
          beta_regularizer: null,
          gamma_regularizer: null,
          beta_constraint: null,
          gamma_constraint: null,
        }, [previous]);
        for (const kind of ["gamma", "beta", "moving_mean", "moving_variance"]) weight(name, row, kind, [c]);
        previous = name;
        break;
      }
      case "ReLU":
        previous = add("Activation", kerasName("activation"), { activation: "relu" }, [previous]);
        break;
      case "Add": {
        if (lastConv === null) throw new RangeError(`layer ${row.name}: an Add needs the unit's convolutions before it`);
        // Atienza: x = add([x, y]) with x the (projected) shortcut and y the residual branch.
        previous = add("Add", kerasName("add"), {}, [shortcut ?? unitInput, lastConv]);
        previousShape = row.outputShape;
        break;
      }
      case "GlobalAveragePooling2D": {
        // Atienza's head: AveragePooling2D(pool_size=the final map) then Flatten.
        const [h, w] = previousShape;
        const pooled = add("AveragePooling2D", kerasName("average_pooling2d"), {
          pool_size: [h!, w!],
          padding: "valid",
          strides: [h!, w!],
          data_format: "channels_last",
        }, [previous]);
        previous = add("Flatten", kerasName("flatten"), { data_format: "channels_last" }, [pooled]);
        previousShape = row.outputShape;
        break;
      }
      case "Flatten":
        previous = add("Flatten", kerasName("flatten"), { data_format: "channels_last" }, [previous]);
        previousShape = row.outputShape;
        break;
      case "Dense": {
        numClasses = row.outputShape[0]!;
        const features = previousShape[0]!;
        const name = add("Dense", kerasName("dense"), {
          units: numClasses,
          activation: "softmax",
          use_bias: true,
          kernel_initializer: initializer("HeNormal"),
          bias_initializer: initializer("Zeros"),
          kernel_regularizer: null,
          bias_regularizer: null,
          activity_regularizer: null,
          kernel_constraint: null,
          bias_constraint: null,
        }, [previous]);
        weight(name, row, "kernel", [features, numClasses]);
        weight(name, row, "bias", [numClasses]);
        previous = name;
        break;
      }
      default:
        throw new RangeError(`layer ${row.name}: no Keras equivalent for a ${row.type} layer`);
    }
  }
  const last = layers[layers.length - 1]!;
  if (last.class_name !== "Dense") throw new RangeError(`a ResNet layer table ends with its Dense classifier, got ${last.class_name}`);
  const params = weights.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
  const expected = rows.reduce((s, r) => s + r.params, 0);
  if (params !== expected) throw new RangeError(`the Keras weights hold ${params} values, the layer table ${expected}`);
  return {
    modelTopology: {
      class_name: "Functional",
      config: {
        name: options.name ?? "model",
        trainable: true,
        layers,
        input_layers: [[inputName, 0, 0]],
        output_layers: [[last.name, 0, 0]],
      },
      keras_version: KERAS_VERSION,
      backend: "tensorflow",
    },
    weights,
    inputShape,
    numClasses,
    params,
  };
}

/**
 * Our weights' values laid out as Keras's weight data: float32, little-endian, in `weights` order.
 * `values` maps our weight names to their values (a checkpoint's or a snapshot's tensors).
 */
export function kerasWeightData(weights: readonly KerasWeight[], values: ReadonlyMap<string, Float32Array>): Uint8Array {
  const total = weights.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const w of weights) {
    const v = values.get(w.source);
    const size = w.shape.reduce((a, b) => a * b, 1);
    if (v === undefined) throw new RangeError(`no values for ${w.source} (Keras ${w.name})`);
    if (v.length !== size) throw new RangeError(`${w.source} has ${v.length} values, Keras ${w.name} [${w.shape}] needs ${size}`);
    out.set(v, offset);
    offset += size;
  }
  return new Uint8Array(out.buffer);
}

/** The inverse of {@link kerasWeightData}: our weight names → values (copies). */
export function weightsFromKerasData(weights: readonly KerasWeight[], data: Uint8Array): Map<string, Float32Array> {
  const total = weights.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
  if (data.byteLength !== total * 4) throw new RangeError(`weight data has ${data.byteLength} bytes, the model needs ${total * 4}`);
  const floats = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const out = new Map<string, Float32Array>();
  let offset = 0;
  for (const w of weights) {
    const size = w.shape.reduce((a, b) => a * b, 1);
    out.set(w.source, floats.slice(offset, offset + size));
    offset += size;
  }
  return out;
}
