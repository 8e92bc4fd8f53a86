import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { fileCheckpointStore, memoryCheckpointStore } from "./checkpoint.ts";
import type { EpochMetrics } from "./metrics.ts";
import { killResumePreparedData, killResumeSpec } from "./test-fixtures/kill-resume-setup.ts";
import { createTinyModel } from "./test-fixtures/tiny-model.ts";
import { trainRun } from "./train-run.ts";

await tf.setBackend("cpu");
const child = fileURLToPath(new URL("./test-fixtures/train-child.ts", import.meta.url));
const numbers = (h: EpochMetrics[]) => h.map(({ seconds: _s, imagesPerSec: _i, ...rest }) => rest);

test("a run killed with SIGKILL after epoch 2's checkpoint resumes to the same metrics and weights as 4 straight epochs", async () => {
  const data = await killResumePreparedData();
  const straightStore = memoryCheckpointStore();
  const straight = await trainRun(tf, killResumeSpec, { data, createModel: createTinyModel, checkpoints: straightStore });

  const dir = await mkdtemp(join(tmpdir(), "kill-resume-"));
  try {
    const path = join(dir, "run.ckpt");
    const proc = spawn(process.execPath, ["--import", "tsx", child, path], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    proc.stderr.on("data", (d) => (stderr += d));
    const exit = new Promise<NodeJS.Signals | number | null>((resolve) => proc.on("exit", (code, signal) => resolve(signal ?? code)));
    let out = "";
    proc.stdout.on("data", (d: Buffer) => {
      out += d;
      if (out.includes("saved 2\n")) proc.kill("SIGKILL");
    });
    assert.equal(await exit, "SIGKILL", `the child must be killed, not finish (stdout ${JSON.stringify(out)}, stderr ${stderr.slice(-2000)})`);
    assert.ok(!out.includes("saved 3"), "killed inside epoch 3");

    const store = fileCheckpointStore(path);
    const atKill = await store.load();
    assert.equal(atKill!.epochsDone, 2);
    const resumed = await trainRun(tf, killResumeSpec, { data, createModel: createTinyModel, checkpoints: store });
    assert.equal(resumed.resumedFromEpoch, 2);
    assert.deepEqual(numbers(resumed.history), numbers(straight.history));
    const [a, b] = [await straightStore.load(), await store.load()];
    assert.deepEqual(b!.weights.map((w) => Array.from(w.values)), a!.weights.map((w) => Array.from(w.values)));
    assert.deepEqual(b!.optimizer, a!.optimizer);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
