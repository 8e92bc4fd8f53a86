// `node --import tsx bench/checkpoint-store.ts [--rounds N]`
// What a ResNet56v2 checkpoint costs in each CHECKPOINT_STORE, measured side by side in one run on a
// fresh embedded Postgres (fsync on) and a folder on the same disk, rounds interleaved (dir, postgres,
// dir, ...): the worker's real paths, RunCheckpoints.commitEpoch (seal with SHA-256, durable write,
// the fenced statement that records the epoch and moves the pointer, collection of older ones) and
// RunCheckpoints.load (read, verify) plus decodeCheckpoint; the bytes per checkpoint, and what the
// database holds while a run trains (the two kept) and after it finished.
// The checkpoint is a real depth-56 model's weights (he_normal init) with AdamW moments of the same
// sizes filled with pseudo-random floats (incompressible, as trained moments are).
// Prints a Markdown section for BENCHMARKS.md.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import postgres from "postgres";
import { ensureDatabase } from "../service/database.ts";
import { startEmbeddedPostgres } from "../service/embedded-postgres.ts";
import { migrateDatabase } from "../service/migrate.ts";
import { freePort } from "../test/helpers/free-port.ts";
import { buildResNetV2 } from "../worker/model/resnet-v2.ts";
import { claimRun } from "../shared/queue/claim-run.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";
import type { ClaimedRun } from "../shared/queue/queue-types.ts";
import { registerWorker } from "../shared/queue/register-worker.ts";
import { createCheckpointStore } from "../worker/runner/checkpoint-store.ts";
import { RunCheckpoints } from "../worker/runner/run-checkpoints.ts";
import { pseudoRandom } from "../worker/tf/test-backends.ts";
import { decodeCheckpoint, encodeCheckpoint, type TrainCheckpoint } from "../worker/train/checkpoint.ts";

const { values: args } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const ROUNDS = Number(args.rounds);

await tf.setBackend("cpu");
const model = buildResNetV2(tf as never, { depth: 56 });
const trainable = model.trainableVariables;
const checkpoint: TrainCheckpoint = {
  specFingerprint: "bench",
  epochsDone: 1,
  partial: null,
  augmentRng: [1, 2, 3, 4],
  history: [],
  best: null,
  thresholdEpoch: null,
  weights: model.weights.map((w) => ({ name: w.name, shape: [...w.variable.shape], values: w.variable.dataSync() as Float32Array })),
  optimizer: {
    iterations: 782,
    m: trainable.map((v, i) => pseudoRandom(v.size, i + 1).map((x) => x * 1e-3)),
    v: trainable.map((v, i) => pseudoRandom(v.size, i + 1000).map((x) => x * x * 1e-6)),
  },
};
const bytes = encodeCheckpoint(checkpoint);
const params = model.paramCounts();
model.dispose();

const dir = await mkdtemp(path.join(tmpdir(), "bench-ckpt-"));
const port = await freePort();
const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), port, ephemeral: true });
const url = await ensureDatabase(pg.url, "bench_ckpt");
await migrateDatabase(url);
const sql = postgres(url, { max: 1, onnotice: () => {} });
const say = (l: string) => console.error(l);
try {
  const load0 = loadavg()[0]!.toFixed(1);
  const spec = { schedule: `[1e-3, 0]lin[1e-3, ${ROUNDS + 1}]` };
  const runs: Record<"dir" | "postgres", ClaimedRun> = {} as never;
  for (const kind of ["dir", "postgres"] as const) {
    await registerWorker(sql, { id: `bench-${kind}`, host: "bench", pid: 1, backend: "none", device: "none", version: "0" });
    await enqueueRuns(sql, [{ spec, epochs: ROUNDS + 1 }]);
    runs[kind] = (await claimRun(sql, { workerId: `bench-${kind}`, leaseS: 3600 }))!;
  }
  const times = { dir: { save: [] as number[], load: [] as number[] }, postgres: { save: [] as number[], load: [] as number[] } };
  const decodeMs: number[] = [];
  const refs: Record<string, string> = {};
  const stores = {
    dir: createCheckpointStore({ kind: "dir", sql, dir: path.join(dir, "ck") }),
    postgres: createCheckpointStore({ kind: "postgres", sql, dir: path.join(dir, "ck") }),
  };
  // One per run for all rounds, as a worker has one per attempt (it remembers the previous checkpoint).
  const savers = {
    dir: new RunCheckpoints(sql, runs.dir, stores.dir, () => {}),
    postgres: new RunCheckpoints(sql, runs.postgres, stores.postgres, () => {}),
  };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const kind of round % 2 ? (["dir", "postgres"] as const) : (["postgres", "dir"] as const)) {
      const run = runs[kind];
      const store = stores[kind];
      const metrics = { epoch: round, loss: 1, acc: 0.5, valLoss: 1, valAcc: 0.5, lr: 1e-3, wd: 1e-4, seconds: 1, imagesPerSec: 1 };
      const saving = savers[kind];
      let t = performance.now();
      await saving.commitEpoch(metrics, bytes);
      times[kind].save.push(performance.now() - t);
      const [row] = await sql`select checkpoint_path from runs where id = ${run.runId}`;
      refs[kind] = row!.checkpoint_path as string;
      const loading = new RunCheckpoints(sql, { ...run, checkpointPath: refs[kind]!, checkpointEpoch: round }, store, () => {});
      t = performance.now();
      const loaded = await loading.load();
      times[kind].load.push(performance.now() - t);
      t = performance.now();
      decodeCheckpoint(loaded!);
      decodeMs.push(performance.now() - t);
      // Epochs are minutes apart, so autovacuum has run between two checkpoints: do it here, untimed.
      if (kind === "postgres") await sql`vacuum checkpoint_chunks`;
      say(`round ${round} ${kind}: save ${times[kind].save.at(-1)!.toFixed(0)} ms, load ${times[kind].load.at(-1)!.toFixed(0)} ms`);
    }
  }
  const fileBytes = (await stat(refs.dir!)).size;
  await sql`vacuum checkpoint_chunks`;
  const [db] = await sql<{ logical: string; kept: number; disk: string }[]>`
    select (select sum(length(data)) from checkpoint_chunks)::bigint as logical,
      (select count(*)::int from checkpoints) as kept,
      (pg_total_relation_size('checkpoint_chunks') + pg_total_relation_size('checkpoints'))::bigint as disk`;
  // The run ends: the worker's collection after completion leaves nothing of it.
  await sql`update runs set state = 'succeeded', finished_at = now(), lease_token = null, lease_expires_at = null where id = ${runs.postgres.runId}`;
  await new RunCheckpoints(sql, runs.postgres, createCheckpointStore({ kind: "postgres", sql, dir }), () => {}).finish();
  await sql`vacuum checkpoint_chunks`;
  const [after] = await sql<{ kept: number; logical: string | null }[]>`
    select (select count(*)::int from checkpoints) as kept, (select sum(length(data)) from checkpoint_chunks)::bigint as logical`;
  const load1 = loadavg()[0]!.toFixed(1);
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const r = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  console.log([
    `### Checkpoint stores, ResNet56v2 (${params.total} params; issue 17)`,
    "",
    `${cpus().length} × ${cpus()[0]?.model.trim()}, ${new Date().toISOString().slice(0, 10)}, load ${load0} → ${load1}; ` +
      `\`node --import tsx bench/checkpoint-store.ts --rounds ${ROUNDS}\` (embedded Postgres 18, fsync on; folder on the same disk). ` +
      `Medians of ${ROUNDS} interleaved rounds.`,
    "",
    "| store | save (seal + durable write + fenced epoch record + GC) | load (read + verify) | decode | bytes per checkpoint |",
    "|---|---|---|---|---|",
    `| dir | ${med(times.dir.save).toFixed(0)} ms | ${med(times.dir.load).toFixed(0)} ms | ${med(decodeMs).toFixed(0)} ms | ${mb(fileBytes)} file |`,
    `| postgres | ${med(times.postgres.save).toFixed(0)} ms (${r(med(times.postgres.save), med(times.dir.save))} dir) | ` +
    `${med(times.postgres.load).toFixed(0)} ms (${r(med(times.postgres.load), med(times.dir.load))} dir) | same | ` +
      `${mb(Number(db!.logical) / db!.kept)} in ${Math.ceil(Number(db!.logical) / db!.kept / (1 << 20))} chunks |`,
    "",
    `Database while the run trains: ${db!.kept} checkpoints kept (current + previous), ${mb(Number(db!.logical))} of chunk data, ` +
      `${mb(Number(db!.disk))} on disk (VACUUM between epochs, as autovacuum does: freed space is reused, not returned); after it finished: ${after!.kept} checkpoints, ${mb(Number(after!.logical ?? 0))}.`,
  ].join("\n"));
} finally {
  await sql.end();
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}
