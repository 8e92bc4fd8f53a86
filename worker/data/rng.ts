/**
 * A small seeded PRNG (xoshiro128**) whose whole state is four uint32 words, so a checkpoint can store
 * it and a resumed run draws exactly the numbers the interrupted one would have drawn.
 * Math.random cannot be seeded or saved; that is why this exists.
 *
 * @example
 * const rng = new Rng(1);
 * rng.float();               // in [0, 1)
 * const saved = rng.getState();
 * const copy = Rng.fromState(saved); // continues identically
 */
export type RngState = [number, number, number, number];

export class Rng {
  #s = new Uint32Array(4);

  /** Seeds the four state words from `seed` with splitmix32, so nearby seeds give unrelated streams. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`Rng seed must be a finite number, got ${seed}`);
    let x = (Math.trunc(seed) >>> 0) ^ 0x9e3779b9;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    // xoshiro's only bad state is all zeros.
    if (this.#s.every((w) => w === 0)) this.#s[0] = 1;
  }

  /**
   * A seed for an independent stream named `label` under `seed` (FNV-1a over both), so the split,
   * the augmentation and the model's initialisation draw from separate streams of one run seed.
   */
  static derive(seed: number, label: string): number {
    let h = 0x811c9dc5;
    const mix = (byte: number) => {
      h = Math.imul(h ^ byte, 0x01000193) >>> 0;
    };
    const s = Math.trunc(seed) >>> 0;
    for (let k = 0; k < 4; k++) mix((s >>> (8 * k)) & 255);
    for (const ch of label) mix(ch.charCodeAt(0) & 255);
    return h;
  }

  static fromState(state: RngState): Rng {
    const rng = new Rng(0);
    rng.setState(state);
    return rng;
  }

  getState(): RngState {
    const s = this.#s;
    return [s[0]!, s[1]!, s[2]!, s[3]!];
  }

  setState(state: RngState): void {
    if (!Array.isArray(state) || state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new TypeError(`Rng state must be four uint32 words, got ${JSON.stringify(state)}`);
    }
    if (state.every((w) => w === 0)) throw new RangeError("Rng state must not be all zeros");
    this.#s.set(state);
  }

  /** The next uint32 (xoshiro128**). */
  uint32(): number {
    const s = this.#s;
    const s0 = s[0]!, s1 = s[1]!, s2 = s[2]!, s3 = s[3]!;
    const r = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    const n2 = (s2 ^ s0) >>> 0;
    const n3 = (s3 ^ s1) >>> 0;
    s[1] = s1 ^ n2;
    s[0] = s0 ^ n3;
    s[2] = n2 ^ t;
    s[3] = rotl(n3, 11);
    return r;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
      throw new RangeError(`Rng.int(n) needs an integer n in [1, 2^32], got ${n}`);
    }
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.uint32();
      if (x < limit) return x % n;
    }
  }

  /** Shuffles `a` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
