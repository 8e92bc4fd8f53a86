// SIGTERM sent to npm itself, as `docker stop` and `systemctl stop` do when npm is the process they
// started: `npm start`, `npm run worker` and `npm run train` drain and exit 0, leave no process behind,
// and a running run goes back to the queue with its attempt unspent. (npm passes SIGTERM only to the
// shell it ran the script with; the scripts `exec` the program so that shell is the program.)
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { before, test } from "node:test";
import { parseRunSpec } from "../shared/run-spec.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import { freePort } from "./helpers/free-port.ts";
import { npmMissing, startNpm, sigtermNpm } from "./helpers/npm-process.ts";
import { queueFixture } from "./helpers/queue-fixture.ts";
import type { TestDatabase } from "./helpers/test-database.ts";
import { eventually } from "./helpers/worker-process.ts";

const fx = queueFixture("npm-signals");
let db: TestDatabase;
before(async () => {
  await fx.ready;
  db = fx.db;
});

const SPEC = { schedule: "[1e-3, 0]lin[1e-3, 50]", optimizer: { alpha: 1e-3 } };
const FAKE = { TRAINER: "fake", FAKE_BATCH_MS: "100", FAKE_BATCHES: "10" };

async function runningRun(): Promise<string> {
  const [id] = await enqueueRuns(db.sql, [{ spec: SPEC, epochs: 50 }]);
  await eventually("the run running, one epoch in", async () => {
    const [r] = await db.sql`select state, checkpoint_epoch from runs where id = ${id!}`;
    return r!.state === "running" && (r!.checkpoint_epoch ?? 0) >= 1;
  }, 60_000);
  return id!;
}

async function assertReleased(id: string): Promise<void> {
  const [run] = await db.sql`select state, attempt, releases from runs where id = ${id}`;
  assert.deepEqual({ ...run }, { state: "queued", attempt: 1, releases: 1 }, "released, attempt not spent");
  const attempts = await db.sql`select attempt, outcome from run_attempts where run_id = ${id}`;
  assert.deepEqual(attempts.map((a) => ({ ...a })), [{ attempt: 1, outcome: "released" }]);
  // Put it out of reach of the next test's worker.
  await db.sql`update runs set state = 'cancelled', finished_at = now() where id = ${id}`;
}

test("SIGTERM to the `npm start` process: the service drains, exits 0, leaves no orphan, the run is released", {
  skip: npmMissing, timeout: 120_000,
}, async () => {
  const npm = startNpm(["start"], {
    ...FAKE, DATABASE_URL: db.url, WORKERS: "1", PORT: String(await freePort()), DATA_DIR: fx.dir,
    CHECKPOINT_DIR: path.join(fx.dir, "ck-start"),
  });
  await eventually("service running", async () => npm.output().includes("service running"), 60_000);
  const id = await runningRun();
  const { code, ms, left } = await sigtermNpm(npm);
  assert.deepEqual(left, [], `processes left running:\n${left.join("\n")}\n${npm.output()}`);
  assert.equal(code, 0, npm.output());
  assert.match(npm.output(), /SIGTERM: stopping/);
  assert.match(npm.output(), /\[worker-1\] .*released to the queue \(attempt not spent\)/);
  await assertReleased(id);
  console.log(`# npm start: SIGTERM to npm → drained and exited 0 in ${ms} ms`);
});

test("SIGTERM to the `npm run worker` process: drains, exits 0, no orphan, the run released", {
  skip: npmMissing, timeout: 90_000,
}, async () => {
  const npm = startNpm(["run", "worker"], {
    ...FAKE, DATABASE_URL: db.url, WORKER_ID: "npm-worker", CHECKPOINT_DIR: path.join(fx.dir, "ck-worker"),
  });
  const id = await runningRun();
  const { code, ms, left } = await sigtermNpm(npm);
  assert.deepEqual(left, [], `processes left running:\n${left.join("\n")}`);
  assert.equal(code, 0, npm.output());
  assert.match(npm.output(), /SIGTERM: draining/);
  await assertReleased(id);
  console.log(`# npm run worker: SIGTERM to npm → drained and exited 0 in ${ms} ms`);
});

test("SIGTERM to the `npm run train` process: stops after a checkpoint, exits 0, no orphan; the same command resumes, from the checkpoint before when the newest is damaged", {
  skip: npmMissing, timeout: 120_000,
}, async () => {
  const parsed = parseRunSpec({
    name: "npm train",
    schedule: "[1e-3, 0]lin[1e-3, 40]",
    model: { depth: 11 },
    batchSize: 16,
    data: { dataset: "synthetic", trainSize: 64, imageSize: 8, validationSize: 16 },
  });
  assert.ok(parsed.ok);
  const specFile = path.join(fx.dir, "spec.json");
  await writeFile(specFile, JSON.stringify(parsed.spec));
  const ckDir = path.join(fx.dir, "ck-train");
  const args = ["run", "train", "--", "--spec", specFile, "--checkpoint-dir", ckDir, "--backend", "wasm"];
  const npm = startNpm(args, {});
  await eventually("an epoch trained", async () => /^\s*2\s/m.test(npm.output()), 90_000);
  const { code, ms, left } = await sigtermNpm(npm);
  assert.deepEqual(left, [], `processes left running:\n${left.join("\n")}`);
  assert.equal(code, 0, npm.output());
  assert.match(npm.output(), /SIGTERM: stopping after this batch and writing a checkpoint/);
  assert.match(npm.output(), /run the same command to resume/);
  const files = existsSync(ckDir) ? await readdir(ckDir) : [];
  assert.equal(files.filter((f) => f.endsWith(".ckpt")).length, 1, files.join(", "));
  console.log(`# npm run train: SIGTERM to npm → checkpointed and exited 0 in ${ms} ms`);

  // The newest checkpoint damaged on disk (one flipped byte): the same command says so and resumes
  // from the one before it (the checkpoints are sealed), instead of training from damaged weights.
  const newest = path.join(ckDir, files.find((f) => f.endsWith(".ckpt"))!);
  const bytes = new Uint8Array(await readFile(newest));
  bytes[bytes.length - 9]! ^= 0x40;
  await writeFile(newest, bytes);
  const again = startNpm(args, {});
  await eventually("the resume", async () => /resuming from the checkpoint before it/.test(again.output()), 90_000)
    .catch((e) => assert.fail(`${(e as Error).message}\n${again.output()}`));
  assert.match(again.output(), /checkpoint damaged: .*\.ckpt: checksum mismatch/);
  const resumed = await sigtermNpm(again);
  assert.equal(resumed.code, 0, again.output());
});
