/**
 * A tiny net for the training-loop tests (a per-pixel dense layer → ReLU → centring with a moving mean
 * that training mode updates, like BN's → global average pool → dense), so loop tests run in
 * milliseconds on the cpu backend, whose conv filter gradient is far too slow for tests. The real loop
 * takes its model from worker/model/.
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { TrainableModel } from "../trainable-model.ts";

type TF = typeof tfjs;

export function createTinyModel(tf: TF, _spec: unknown, { seed }: { seed: number }, filters = 8): TrainableModel {
  // tidy disposes the initial values; the variables keep their own references.
  const [k, kb, w, wb, movingMean] = tf.tidy(() => [
    tf.variable(tf.randomNormal([3, filters], 0, Math.sqrt(2 / 3), "float32", seed), true),
    tf.variable(tf.zeros([filters]), true),
    tf.variable(tf.randomNormal([filters, 10], 0, Math.sqrt(2 / filters), "float32", seed + 1), true),
    tf.variable(tf.zeros([10]), true),
    tf.variable(tf.zeros([filters]), false),
  ]) as [tfjs.Variable, tfjs.Variable, tfjs.Variable, tfjs.Variable, tfjs.Variable];
  return {
    trainableVariables: [k, kb, w, wb],
    nonTrainableVariables: [movingMean],
    regularizedKernels: [k, w],
    forward(x, { training }) {
      return tf.tidy(() => {
        const [n, hh, ww] = x.shape;
        const h = tf.reshape(tf.relu(tf.add(tf.matMul(tf.reshape(x, [n * hh * ww, 3]), k), kb)), [n, hh, ww, filters]);
        let centred: tfjs.Tensor;
        if (training) {
          const batchMean = tf.mean(h, [0, 1, 2]);
          movingMean.assign(tf.add(tf.mul(movingMean, 0.9), tf.mul(batchMean, 0.1)));
          centred = tf.sub(h, batchMean);
        } else {
          centred = tf.sub(h, movingMean);
        }
        const pooled = tf.mean(centred, [1, 2]);
        return tf.add(tf.matMul(pooled, w), wb) as tfjs.Tensor2D;
      });
    },
    dispose() {
      tf.dispose([k, kb, w, wb, movingMean]);
    },
  };
}
