/**
 * The maths of one batch, apart from the loop that drives it, the way Keras separates `train_step`
 * (forward, loss, gradients, the optimizer's update) and `test_step` from `fit`: trainRun
 * (train-run.ts) owns epochs, data, checkpoints and reporting; this owns what a step computes.
 *
 * @example
 * ```ts
 * const steps = new ClassifierSteps(tf, model, optimizer, { l2: 0, kernels: [] });
 * const { loss, correct } = tf.tidy(() => steps.train(x, labels, { lr: 1e-3, decay: 1.5e-4 }));
 * const [l, k] = await Promise.all([loss.data(), correct.data()]);
 * tf.dispose([loss, correct]);
 * ```
 */
import type * as tfjs from "@tensorflow/tfjs";
import { NUM_CLASSES } from "../data/cifar10-format.ts";
import { type AdamW, l2Penalty } from "./adamw.ts";
import type { TrainableModel } from "./trainable-model.ts";

type TF = typeof tfjs;

export class ClassifierSteps {
  readonly #l2: number;
  readonly #kernels: readonly tfjs.Variable[];

  constructor(
    private readonly tf: TF,
    private readonly model: TrainableModel,
    private readonly optimizer: AdamW,
    /** Keras's kernel regularizer: l2·Σw² over `kernels`, added to the loss. */
    o: { l2: number; kernels: readonly tfjs.Variable[] },
  ) {
    this.#l2 = o.l2;
    this.#kernels = o.kernels;
  }

  /**
   * One AdamW step on a batch: mean softmax cross-entropy (plus the l2 term), the gradients of every
   * trainable variable, the update with this iteration's lr and decay. Returns the batch's loss and
   * correct count as tensors still to be read, so the caller decides when to wait for the device.
   */
  train(x: tfjs.Tensor4D, labels: tfjs.Tensor1D, at: { lr: number; decay: number }): { loss: tfjs.Scalar; correct: tfjs.Scalar } {
    const { tf, model } = this;
    let correct: tfjs.Scalar | null = null;
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.forward(x, { training: true });
        correct = tf.keep(this.#countCorrect(logits, labels));
        const ce = this.#crossEntropy(logits, labels);
        return this.#l2 > 0 ? tf.add(ce, l2Penalty(tf, this.#kernels, this.#l2)) : ce;
      }, model.trainableVariables as tfjs.Variable[]);
      this.optimizer.applyGradients(model.trainableVariables.map((v) => grads[v.name] ?? null), at);
      return value;
    });
    return { loss, correct: correct! };
  }

  /** A batch in inference mode: [its cross-entropy summed over the batch, its correct count]. */
  test(x: tfjs.Tensor4D, labels: tfjs.Tensor1D): tfjs.Tensor1D {
    const { tf } = this;
    return tf.tidy(() => {
      const logits = this.model.forward(x, { training: false });
      return tf.stack([tf.mul(this.#crossEntropy(logits, labels), labels.shape[0]), this.#countCorrect(logits, labels)]) as tfjs.Tensor1D;
    });
  }

  /** The l2 penalty now (Keras adds it to val_loss too; it does not depend on the batch), 0 without l2. */
  async penalty(): Promise<number> {
    if (this.#l2 <= 0) return 0;
    const p = l2Penalty(this.tf, this.#kernels, this.#l2);
    try {
      return (await p.data())[0]!;
    } finally {
      p.dispose();
    }
  }

  /** Mean softmax cross-entropy from logits (Keras uses the logits behind a softmax output too). */
  #crossEntropy(logits: tfjs.Tensor2D, labels: tfjs.Tensor1D): tfjs.Scalar {
    const { tf } = this;
    const oneHot = tf.oneHot(labels, NUM_CLASSES);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, oneHot), 1)));
  }

  #countCorrect(logits: tfjs.Tensor2D, labels: tfjs.Tensor1D): tfjs.Scalar {
    const { tf } = this;
    return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), "float32"));
  }
}
