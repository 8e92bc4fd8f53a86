/**
 * AdamW with Keras 3 semantics, written over plain tf ops so every backend (wasm, cpu, tensorflow)
 * runs it. tfjs's own Adam differs from Keras in where ε sits (it divides by sqrt(v̂)+ε, Keras by
 * sqrt(v)+ε after folding the bias correction into the step size) and has no decoupled decay, and the
 * seed's numbers are Keras numbers, so we follow keras/src/optimizers/{adamw,adam,base_optimizer}.py:
 *
 *   for every trainable w (not excluded):  w ← w − decay·w      (decay = lr·λ, or wd(i) from a schedule)
 *   t = iterations + 1;  α_t = lr·sqrt(1−β2^t)/(1−β1^t)
 *   m ← m + (g−m)(1−β1);  v ← v + (g²−v)(1−β2);  w ← w − α_t·m/(sqrt(v)+ε)
 *
 * The decay uses the pre-update weights and the same lr as the step, as Keras does.
 *
 * @example
 * const opt = new AdamW(tf, model.trainableVariables, { weightDecay: 0.15 });
 * opt.applyGradients(grads, { lr: 1e-3 });    // grads aligned with the variables
 * const state = await opt.exportState();      // { iterations, m, v } for a checkpoint
 */
import type * as tfjs from "@tensorflow/tfjs";
import { ADAMW_STEP } from "../tf/webgpu-kernels.ts";

type TF = typeof tfjs;

export interface AdamWOptions {
  /** λ, Keras `weight_decay`: the decay per step is lr·λ. Keras's default is 0.004. */
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  /** Keras's default 1e-7 (tfjs's cpu/wasm backend epsilon is also 1e-7). */
  epsilon?: number;
  /**
   * Variables the decay skips: substrings of variable names (Keras `exclude_from_weight_decay(var_names=…)`)
   * or a predicate. Keras decays every trainable variable by default (biases and BN γ/β included).
   */
  exclude?: readonly string[] | ((variable: tfjs.Variable, index: number) => boolean);
}

export interface AdamWStep {
  /** The learning rate of this step (from the schedule at this iteration). */
  lr: number;
  /** Overrides the decay coefficient of this step (a separate WD schedule's value wd(i)); default lr·λ. */
  decay?: number;
}

/** Everything needed to continue exactly: the moment estimates and the step count. */
export interface AdamWState {
  iterations: number;
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly variables: readonly tfjs.Variable[];
  /** Per variable: does the decay apply to it? */
  readonly decays: readonly boolean[];
  #tf: TF;
  #m: tfjs.Variable[];
  #v: tfjs.Variable[];
  #iterations = 0;
  #disposed = false;

  constructor(tf: TF, variables: readonly tfjs.Variable[], options: AdamWOptions = {}) {
    this.#tf = tf;
    this.weightDecay = options.weightDecay ?? 0.004;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-7;
    for (const [name, value, ok] of [
      ["weightDecay", this.weightDecay, this.weightDecay >= 0],
      ["beta1", this.beta1, this.beta1 >= 0 && this.beta1 < 1],
      ["beta2", this.beta2, this.beta2 >= 0 && this.beta2 < 1],
      ["epsilon", this.epsilon, this.epsilon >= 0],
    ] as const) {
      if (!Number.isFinite(value) || !ok) throw new RangeError(`AdamW ${name} is out of range: ${value}`);
    }
    this.variables = [...variables];
    const exclude = options.exclude;
    this.decays = this.variables.map((v, i) => {
      if (exclude === undefined) return true;
      if (typeof exclude === "function") return !exclude(v, i);
      return !exclude.some((s) => v.name.includes(s));
    });
    // tidy disposes the zeros; a variable keeps its own reference to the data.
    this.#m = tf.tidy(() => this.variables.map((v) => tf.variable(tf.zerosLike(v), false, undefined, "float32")));
    this.#v = tf.tidy(() => this.variables.map((v) => tf.variable(tf.zerosLike(v), false, undefined, "float32")));
  }

  /** Steps taken so far (Keras `optimizer.iterations`). */
  get iterations(): number {
    return this.#iterations;
  }

  /**
   * One AdamW step. `grads[i]` is the gradient of `variables[i]`; a missing one (null) leaves that
   * variable's moments and value untouched except for the decay, as Keras applies decay to every
   * variable it is given. The gradients are not disposed.
   */
  applyGradients(grads: readonly (tfjs.Tensor | null | undefined)[], step: AdamWStep): void {
    if (this.#disposed) throw new TypeError("AdamW.applyGradients() called after dispose()");
    if (grads.length !== this.variables.length) {
      throw new RangeError(`AdamW.applyGradients() needs one gradient per variable: ${this.variables.length} variables, got ${grads.length}`);
    }
    const { lr } = step;
    if (!Number.isFinite(lr) || lr < 0) throw new RangeError(`AdamW learning rate must be finite and ≥ 0, got ${lr}`);
    const decay = step.decay ?? lr * this.weightDecay;
    if (!Number.isFinite(decay)) throw new RangeError(`AdamW decay must be finite, got ${decay}`);
    const tf = this.#tf;
    const t = this.#iterations + 1;
    const alpha = (lr * Math.sqrt(1 - Math.pow(this.beta2, t))) / (1 - Math.pow(this.beta1, t));
    // A backend with a fused update kernel (webgpu) takes it: same arithmetic, fewer dispatches.
    const fused = tf.getKernel(ADAMW_STEP, tf.getBackend()) !== undefined;
    tf.tidy(() => {
      const decayT = tf.scalar(decay);
      const oneMinusB1 = tf.scalar(1 - this.beta1);
      const oneMinusB2 = tf.scalar(1 - this.beta2);
      const alphaT = tf.scalar(alpha);
      const eps = tf.scalar(this.epsilon);
      this.variables.forEach((w, i) => {
        // Decay first, on the pre-update weights (Keras `_apply_weight_decay` runs before the update).
        const g = grads[i];
        if (decay !== 0 && this.decays[i] && !(fused && g != null)) w.assign(tf.sub(w, tf.mul(w, decayT)));
        if (g == null) return;
        if (!arraysEqual(g.shape, w.shape)) {
          throw new RangeError(`AdamW gradient ${i} (${w.name}) has shape [${g.shape}], the variable [${w.shape}]`);
        }
        const m = this.#m[i]!;
        const v = this.#v[i]!;
        if (fused) {
          const attrs = { decay: this.decays[i] ? decay : 0, alpha, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
          const [w2, m2, v2] = tf.engine().runKernel(ADAMW_STEP, { w, g, m, v }, attrs) as tfjs.Tensor[];
          m.assign(m2!);
          v.assign(v2!);
          w.assign(w2!);
          return;
        }
        m.assign(tf.add(m, tf.mul(tf.sub(g, m), oneMinusB1)));
        v.assign(tf.add(v, tf.mul(tf.sub(tf.square(g), v), oneMinusB2)));
        w.assign(tf.sub(w, tf.div(tf.mul(m, alphaT), tf.add(tf.sqrt(v), eps))));
      });
    });
    this.#iterations = t;
  }

  /** Reads the moments asynchronously: the webgpu backend has no synchronous readback in Node. */
  async exportState(): Promise<AdamWState> {
    const iterations = this.#iterations;
    const read = (ts: tfjs.Variable[]) => Promise.all(ts.map(async (t) => ((await t.data()) as Float32Array).slice()));
    const [m, v] = await Promise.all([read(this.#m), read(this.#v)]);
    return { iterations, m, v };
  }

  importState(state: AdamWState): void {
    const n = this.variables.length;
    if (!Number.isInteger(state.iterations) || state.iterations < 0) {
      throw new RangeError(`AdamW state iterations must be a non-negative integer, got ${state.iterations}`);
    }
    if (state.m.length !== n || state.v.length !== n) {
      throw new RangeError(`AdamW state has ${state.m.length}/${state.v.length} moments for ${n} variables`);
    }
    const tf = this.#tf;
    this.variables.forEach((w, i) => {
      for (const [name, arr, target] of [["m", state.m[i]!, this.#m[i]!], ["v", state.v[i]!, this.#v[i]!]] as const) {
        if (arr.length !== w.size) {
          throw new RangeError(`AdamW state ${name}[${i}] (${w.name}) has ${arr.length} values, the variable ${w.size}`);
        }
        tf.tidy(() => target.assign(tf.tensor(arr, w.shape, "float32")));
      }
    });
    this.#iterations = state.iterations;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of [...this.#m, ...this.#v]) t.dispose();
  }
}

/**
 * The Keras `l2(l2)` kernel regularizer summed over `kernels`: l2·Σ w². Add it to the loss (Keras
 * adds regularization losses to the reported loss and val_loss too).
 */
export function l2Penalty(tf: TF, kernels: readonly tfjs.Variable[], l2: number): tfjs.Scalar {
  if (!Number.isFinite(l2) || l2 < 0) throw new RangeError(`l2 must be finite and ≥ 0, got ${l2}`);
  return tf.tidy(() => {
    if (l2 === 0 || kernels.length === 0) return tf.scalar(0);
    const sums = kernels.map((k) => tf.sum(tf.square(k)));
    return tf.mul(tf.addN(sums), l2) as tfjs.Scalar;
  });
}

function arraysEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
