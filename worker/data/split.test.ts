import { test } from "node:test";
import assert from "node:assert/strict";
import { splitTrainValidation } from "./split.ts";

const count = (labels: Uint8Array, idx: Int32Array) => {
  const c = new Array(10).fill(0);
  for (const i of idx) c[labels[i]!]++;
  return c;
};

test("splitTrainValidation() stratified draws equal counts per class from a balanced set", () => {
  const labels = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) % 10);
  const { train, validation } = splitTrainValidation(labels, { validationSize: 1000, stratified: true, seed: 1 });
  assert.deepEqual(count(labels, validation), new Array(10).fill(100));
  assert.deepEqual(count(labels, train), new Array(10).fill(400));
  const all = new Set([...train, ...validation]);
  assert.equal(all.size, 5000, "disjoint and complete");
});

test("splitTrainValidation() stratified follows class shares on an unbalanced set, summing to validationSize", () => {
  // Class c has 10·(c+1) records: 550 in all; a 110-image validation set takes a fifth of each.
  const labels = Uint8Array.from(Array.from({ length: 10 }, (_, c) => new Array(10 * (c + 1)).fill(c)).flat());
  const { validation } = splitTrainValidation(labels, { validationSize: 110, stratified: true, seed: 3 });
  assert.deepEqual(count(labels, validation), [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
  const odd = splitTrainValidation(labels, { validationSize: 97, stratified: true, seed: 3 }).validation;
  assert.equal(odd.length, 97);
});

test("splitTrainValidation() is seeded: same seed same split, other seed other split", () => {
  const labels = Uint8Array.from({ length: 500 }, (_, i) => i % 10);
  const a = splitTrainValidation(labels, { validationSize: 100, stratified: true, seed: 1 });
  const b = splitTrainValidation(labels, { validationSize: 100, stratified: true, seed: 1 });
  const c = splitTrainValidation(labels, { validationSize: 100, stratified: true, seed: 2 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.validation, c.validation);
  const plain = splitTrainValidation(labels, { validationSize: 100, stratified: false, seed: 1 });
  assert.equal(plain.validation.length, 100);
  assert.throws(() => splitTrainValidation(labels, { validationSize: 500, stratified: true, seed: 1 }), /validationSize must be an integer in \[1, 499\]/);
});
