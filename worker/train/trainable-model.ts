import type * as tfjs from "@tensorflow/tfjs";
import type { LayerRow } from "../model/resnet-v2.ts";

/**
 * What the training loop needs from a model: its variables and a forward pass to logits. The ResNet
 * in worker/model/ provides it; tests may pass a tiny one.
 */
export interface TrainableModel {
  /** Updated by the optimizer, in a fixed order (checkpoints store them in this order). */
  readonly trainableVariables: readonly tfjs.Variable[];
  /** State the forward pass updates in training mode (BN moving mean/variance). */
  readonly nonTrainableVariables: readonly tfjs.Variable[];
  /** The kernels Keras's `l2(l2)` regularizer covers; default: the rank-4 (conv) kernels, as in Atienza's model. */
  readonly regularizedKernels?: readonly tfjs.Variable[];
  /** [N, H, W, 3] → logits [N, classes]; `training` selects batch statistics and updates moving ones. */
  forward(x: tfjs.Tensor4D, options: { training: boolean }): tfjs.Tensor2D;
  dispose(): void;
  /** Every variable by its stable name (the ResNet's): what exported weights are keyed by. */
  readonly weights?: readonly { readonly name: string; readonly variable: tfjs.Variable }[];
  /** The layer table the exported Keras topology is derived from (worker/model/export-keras-model.ts). */
  layerTable?(): LayerRow[];
}
