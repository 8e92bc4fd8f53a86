import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../tf/tf-types.ts";
import { channelSum } from "./channel-sum.ts";
import { releaseAfterBackprop } from "./release-after-backprop.ts";

/** A `same`-padded NHWC convolution plus bias, differentiable w.r.t. input, kernel and bias. */
export type Conv2dBias = (x: tfjs.Tensor4D, kernel: tfjs.Tensor4D, bias: tfjs.Tensor1D) => tfjs.Tensor4D;

/**
 * Builds conv2d(x, kernel, stride, 'same') + bias with a hand-written gradient.
 *
 * Why not tf.conv2d + tf.add: the stock gradient of the broadcast bias add reduces dy with a Sum
 * over axes [0, 1, 2] (a full transpose on wasm) and tf.fused.conv2d keeps extra tensors for its
 * activation. Here backprop keeps only x and the kernel, and asks the backend's registered
 * Conv2DBackpropInput / Conv2DBackpropFilter kernels (ours on wasm and cpu, native on tfjs-node)
 * for dx and dW, and a per-channel sum for db.
 *
 * @example
 * const conv = makeConv2dBias(tf, 2);
 * const y = conv(x, w, b); // [N, ceil(H/2), ceil(W/2), CO]
 */
export function makeConv2dBias(tf: TF, stride: 1 | 2): Conv2dBias {
  const strides: [number, number] = [stride, stride];
  const op = tf.customGrad((...args) => {
    const [x, kernel, bias, save] = args as [tfjs.Tensor4D, tfjs.Tensor4D, tfjs.Tensor1D, tfjs.GradSaveFunc];
    save([x, kernel]);
    const value = tf.fused.conv2d({ x, filter: kernel, strides, pad: "same", bias });
    return {
      value,
      gradFunc: (dy: tfjs.Tensor, saved: tfjs.Tensor[]) => {
        const [sx, sk] = saved as [tfjs.Tensor4D, tfjs.Tensor4D];
        const engine = tf.engine();
        const attrs = { strides, pad: "same", dataFormat: "NHWC" };
        const dx = engine.runKernel(
          "Conv2DBackpropInput",
          { dy, filter: sk },
          { ...attrs, inputShape: sx.shape } as unknown as tfjs.NamedAttrMap,
        ) as tfjs.Tensor;
        const dw = engine.runKernel(
          "Conv2DBackpropFilter",
          { x: sx, dy },
          { ...attrs, filterShape: sk.shape } as unknown as tfjs.NamedAttrMap,
        ) as tfjs.Tensor;
        return releaseAfterBackprop(tf, [dx, dw, channelSum(tf, dy)], dy, saved);
      },
    };
  });
  return (x, kernel, bias) => op(x, kernel, bias) as tfjs.Tensor4D;
}
