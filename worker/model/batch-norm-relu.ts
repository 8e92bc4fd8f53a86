import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../tf/tf-types.ts";
import { BN_RELU_GRAD, BN_RELU_INFER, BN_RELU_TRAIN } from "../tf/wasm-kernels.ts";
import { channelSum } from "./channel-sum.ts";
import { releaseAfterBackprop } from "./release-after-backprop.ts";

/** The state of one Keras BatchNormalization layer (channels last). */
export interface BatchNormState {
  readonly gamma: tfjs.Variable;
  readonly beta: tfjs.Variable;
  readonly movingMean: tfjs.Variable;
  readonly movingVariance: tfjs.Variable;
  /** Keras `momentum` (0.99 in Atienza's model). */
  readonly momentum: number;
  /** Keras `epsilon` (1e-3). */
  readonly epsilon: number;
}

/** relu(batchNorm(x)); in training mode with batch statistics, updating the moving ones. */
export type BatchNormRelu = (x: tfjs.Tensor4D, bn: BatchNormState, training: boolean) => tfjs.Tensor4D;

/**
 * Builds a fused BatchNormalization → ReLU with a hand-written gradient.
 *
 * Maths as Keras 3: batch mean and biased variance over N, H, W; y = γ·(x − μ)/√(σ² + ε) + β;
 * moving ← moving·momentum + batch·(1 − momentum) (variance biased, as `ops.moments` gives it).
 *
 * Why hand-written: the stock gradient of tf.moments + tf.batchNorm records ~10 intermediates of
 * the activation's size per layer (and Tile/Sum transposes on wasm); here backprop keeps only the
 * input x and the output r (which the next convolution keeps anyway) plus per-channel vectors, and
 * uses the closed form dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)), with dy = dr·[r > 0].
 *
 * @example
 * const bnRelu = makeBatchNormRelu(tf);
 * const r = bnRelu(x, model.bn, true); // updates bn.movingMean / movingVariance
 */
export function makeBatchNormRelu(tf: TF): BatchNormRelu {
  let current: BatchNormState | undefined;
  const trainOp = tf.customGrad((...args) => {
    const [x, gamma, beta, save] = args as [tfjs.Tensor4D, tfjs.Tensor1D, tfjs.Tensor1D, tfjs.GradSaveFunc];
    const bn = current!;
    const eps = bn.epsilon; // gradFunc runs later, when `current` is gone
    const c = x.shape[3];
    const p = x.size / c;
    const engine = tf.engine();
    const fused = tf.getKernel(BN_RELU_TRAIN, tf.getBackend()) !== undefined;
    let r: tfjs.Tensor4D;
    let mean: tfjs.Tensor1D;
    let variance: tfjs.Tensor1D;
    // A backend's own form of the ReLU mask (native: oneDNN's workspace), handed back to its gradient.
    let workspace: tfjs.Tensor | undefined;
    if (fused) {
      [r, mean, variance, workspace] = engine.runKernel(BN_RELU_TRAIN, { x, gamma, beta }, { epsilon: bn.epsilon }) as [
        tfjs.Tensor4D, tfjs.Tensor1D, tfjs.Tensor1D, tfjs.Tensor?,
      ];
    } else {
      mean = tf.mul(channelSum(tf, x), 1 / p);
      variance = tf.mul(channelSum(tf, tf.squaredDifference(x, mean)), 1 / p);
      r = tf.relu(tf.batchNorm(x, mean, variance, beta, gamma, bn.epsilon));
    }
    save(workspace ? [x, r, gamma, mean, variance, workspace] : [x, r, gamma, mean, variance]);
    const m = bn.momentum;
    bn.movingMean.assign(tf.add(tf.mul(bn.movingMean, m), tf.mul(mean, 1 - m)));
    bn.movingVariance.assign(tf.add(tf.mul(bn.movingVariance, m), tf.mul(variance, 1 - m)));
    return {
      value: r,
      gradFunc: (dr: tfjs.Tensor, saved: tfjs.Tensor[]) => {
        const [sx, sr, sGamma, sMean, sVariance, sWorkspace] = saved as [
          tfjs.Tensor4D, tfjs.Tensor4D, tfjs.Tensor1D, tfjs.Tensor1D, tfjs.Tensor1D, tfjs.Tensor?,
        ];
        const grads = (): tfjs.Tensor[] => {
          if (tf.getKernel(BN_RELU_GRAD, tf.getBackend()) !== undefined) {
            return tf.engine().runKernel(
              BN_RELU_GRAD,
              { dr, r: sr, x: sx, gamma: sGamma, mean: sMean, variance: sVariance, ...(sWorkspace ? { workspace: sWorkspace } : {}) },
              { epsilon: eps },
            ) as tfjs.Tensor[];
          }
          const sInvStd = tf.rsqrt(tf.add(sVariance, eps));
          const dy = tf.mul(dr, tf.step(sr));
          const xHat = tf.mul(tf.sub(sx, sMean), sInvStd);
          const dBeta = channelSum(tf, dy);
          const dGamma = channelSum(tf, tf.mul(dy, xHat));
          const scale = tf.mul(sGamma, sInvStd);
          const dx = tf.mul(
            tf.sub(tf.sub(dy, tf.mul(dBeta, 1 / p)), tf.mul(xHat, tf.mul(dGamma, 1 / p))),
            scale,
          );
          return [dx, dGamma, dBeta];
        };
        return releaseAfterBackprop(tf, grads(), dr, saved);
      },
    };
  });
  return (x, bn, training) => {
    if (!training) {
      if (tf.getKernel(BN_RELU_INFER, tf.getBackend()) !== undefined) {
        return tf.engine().runKernel(BN_RELU_INFER, {
          x, gamma: bn.gamma, beta: bn.beta, mean: bn.movingMean, variance: bn.movingVariance,
        }, { epsilon: bn.epsilon }) as tfjs.Tensor4D;
      }
      return tf.tidy(() =>
        tf.relu(tf.batchNorm(x, bn.movingMean, bn.movingVariance, bn.beta, bn.gamma, bn.epsilon)),
      ) as tfjs.Tensor4D;
    }
    current = bn;
    try {
      return trainOp(x, bn.gamma, bn.beta) as tfjs.Tensor4D;
    } finally {
      current = undefined;
    }
  };
}
