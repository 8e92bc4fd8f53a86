import { Rng } from "../data/rng.ts";

/**
 * Keras's `he_normal` initial values: a normal distribution truncated at two standard deviations,
 * with stddev sqrt(2 / fanIn) / 0.87962566 (the factor makes the *truncated* distribution's stddev
 * sqrt(2 / fanIn), as Keras ≥ 2.x does). tfjs-layers' heNormal omits the factor, which is why we
 * draw our own. Values come from a seeded xoshiro stream in plain JS, so every backend starts from
 * bit-identical weights for a given seed.
 *
 * @example
 * heNormal(3 * 3 * 16 * 16, 3 * 3 * 16, 42); // Float32Array of 2304 values
 */
export function heNormal(size: number, fanIn: number, seed: number): Float32Array {
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`heNormal size must be a whole number ≥ 0, got ${size}`);
  if (!(fanIn > 0)) throw new RangeError(`heNormal fanIn must be > 0, got ${fanIn}`);
  const stddev = Math.sqrt(2 / fanIn) / 0.87962566103423978;
  const rng = new Rng(seed);
  const out = new Float32Array(size);
  let i = 0;
  while (i < size) {
    // Box–Muller gives two normals per pair of uniforms; redraw any beyond ±2σ (truncation).
    const u1 = 1 - rng.float();
    const u2 = rng.float();
    const r = Math.sqrt(-2 * Math.log(u1));
    for (const z of [r * Math.cos(2 * Math.PI * u2), r * Math.sin(2 * Math.PI * u2)]) {
      if (i < size && Math.abs(z) <= 2) out[i++] = z * stddev;
    }
  }
  return out;
}
