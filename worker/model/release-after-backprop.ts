import type * as tfjs from "@tensorflow/tfjs";
import type { TF } from "../tf/tf-types.ts";

/**
 * Frees a custom op's incoming gradient and its saved tensors as soon as its own gradients exist,
 * and returns those gradients.
 *
 * Why: tfjs's engine.gradients() keeps every intermediate gradient and every tensor saved for
 * backprop until the whole backward pass ends (one tidy around it), so a training step's peak held
 * every activation and every activation's gradient at once (ResNet56v2 batch 64: ≈ 2× the
 * activations). Here each op lets go of them when it is done, as PyTorch's autograd does.
 *
 * Safe because `dy` is the accumulated gradient of this op's own output, which no other tape node
 * reads, and `saved` are the engine's own clones (disposing one leaves the caller's tensor alone; the
 * engine's later dispose of them is a no-op). Not for ops used in higher-order gradients (this model
 * has none): those read `saved` again.
 */
export function releaseAfterBackprop(tf: TF, grads: tfjs.Tensor[], dy: tfjs.Tensor, saved: tfjs.Tensor[]): tfjs.Tensor[] {
  tf.dispose([dy, ...saved]);
  return grads;
}
