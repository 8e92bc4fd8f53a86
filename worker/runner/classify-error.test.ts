import assert from "node:assert/strict";
import { test } from "node:test";
import { TrainingDivergedError } from "../train/train-errors.ts";
import { classifyError, RunFailure } from "./classify-error.ts";

test("classifyError() fails a diverged run for good, keeping the trainer's message", () => {
  const { error, retryable } = classifyError(new TrainingDivergedError(3, 17, 1267, Number.NaN));
  assert.equal(retryable, false);
  assert.equal(error.code, "diverged");
  assert.match(error.message, /loss is NaN at epoch 3, batch 17/);
});

test("classifyError() fails spec, data and out-of-memory problems for good", () => {
  assert.equal(classifyError(new RunFailure("invalid_spec", "bad")).error.code, "invalid_spec");
  assert.equal(classifyError(new RunFailure("invalid_data", "no files")).retryable, false);
  const oom = classifyError(new RangeError("Array buffer allocation failed"));
  assert.deepEqual([oom.error.code, oom.retryable], ["out_of_memory", false]);
});

test("classifyError() retries anything else as a crash, with the error's name and code kept", () => {
  const e = Object.assign(new Error("connection reset"), { code: "ECONNRESET" });
  const { error, retryable } = classifyError(e);
  assert.equal(retryable, true);
  assert.equal(error.code, "crashed");
  assert.equal(error.detail?.code, "ECONNRESET");
  assert.equal(classifyError("a string").error.message, "a string");
});
