import type * as tfjs from "@tensorflow/tfjs";

/**
 * The TensorFlow.js namespace that model and training code receive as an argument. It is the same
 * API whichever backend `selectBackend()` picked (tfjs-node-gpu, tfjs-node, wasm or cpu), so code
 * typed against it never imports a backend itself.
 */
export type TF = typeof tfjs;
