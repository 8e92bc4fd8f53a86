/**
 * Splits training records into a training subset and a validation set, as the seed does: a seeded
 * draw of `validationSize` records, stratified by class (each class contributes in proportion to its
 * share, so equal counts per class on a balanced set when divisible), or a plain random draw.
 *
 * @example
 * const { train, validation } = splitTrainValidation(labels, { validationSize: 10000, stratified: true, seed: 1 });
 * // on CIFAR-10: 40,000 and 10,000 indices, 1,000 validation images per class
 */
import { NUM_CLASSES } from "./cifar10-format.ts";
import { Rng } from "./rng.ts";

export interface SplitOptions {
  validationSize: number;
  stratified: boolean;
  seed: number;
}

export interface Split {
  /** Indices into the records, ascending. */
  train: Int32Array;
  validation: Int32Array;
}

export function splitTrainValidation(labels: Uint8Array, options: SplitOptions): Split {
  const { validationSize, stratified } = options;
  const n = labels.length;
  if (!Number.isInteger(validationSize) || validationSize < 1 || validationSize >= n) {
    throw new RangeError(`validationSize must be an integer in [1, ${n - 1}] for ${n} training records, got ${validationSize}`);
  }
  const rng = new Rng(Rng.derive(options.seed, "split"));
  const chosen = new Uint8Array(n);
  if (!stratified) {
    const p = rng.permutation(n);
    for (let k = 0; k < validationSize; k++) chosen[p[k]!] = 1;
  } else {
    const byClass: number[][] = Array.from({ length: NUM_CLASSES }, () => []);
    labels.forEach((c, i) => byClass[c]!.push(i));
    // Largest-remainder allocation: floor of each class's share, the rest to the largest fractions.
    const exact = byClass.map((m) => (validationSize * m.length) / n);
    const quota = exact.map(Math.floor);
    let left = validationSize - quota.reduce((a, b) => a + b, 0);
    const byFraction = exact.map((e, c) => ({ c, f: e - Math.floor(e) })).sort((a, b) => b.f - a.f || a.c - b.c);
    for (const { c } of byFraction) {
      if (left === 0) break;
      if (quota[c]! < byClass[c]!.length) {
        quota[c]! += 1;
        left--;
      }
    }
    byClass.forEach((members, c) => {
      const p = rng.permutation(members.length);
      for (let k = 0; k < quota[c]!; k++) chosen[members[p[k]!]!] = 1;
    });
  }
  const train = new Int32Array(n - validationSize);
  const validation = new Int32Array(validationSize);
  let t = 0, v = 0;
  for (let i = 0; i < n; i++) {
    if (chosen[i]) validation[v++] = i;
    else train[t++] = i;
  }
  return { train, validation };
}
