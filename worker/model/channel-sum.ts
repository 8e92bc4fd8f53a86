import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../tf/tf-types.ts";

/**
 * Sums an NHWC (or any channels-last) tensor over every axis but the last: the per-channel sums
 * that batch norm and bias gradients need. Written as a Sum over axis 0 of a [P, C] view so the
 * wasm/cpu kernels in worker/tf (leading-axes reduction without a transpose) handle it in one pass.
 *
 * @example
 * channelSum(tf, tf.ones([2, 3, 3, 4])); // [18, 18, 18, 18]
 */
export function channelSum(tf: TF, x: tfjs.Tensor): tfjs.Tensor1D {
  const c = x.shape[x.shape.length - 1]!;
  return tf.tidy(() => tf.sum(tf.reshape(x, [-1, c]), 0) as tfjs.Tensor1D);
}
