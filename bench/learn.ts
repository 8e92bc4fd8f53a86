// `npm run bench:learn [-- --epochs 30] [--train-size N] [--validation-size N] [--depth 20] [--batch 64]
//   [--backends native,wasm,cpu] [--threads 1] [--torch auto|on|off] [--torch-threads 1] [--out FILE.json]`
//
// Real learning, measured: ResNet20v2 (depth 20) on Fashion-MNIST (all 60000 training images by
// default, 10000 of them held out for validation, stratified) with a seed-shaped schedule — the
// seed's [1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34] scaled to --epochs — prints val_acc and wall
// time per epoch for each backend, and trains the same network the same way in PyTorch
// (bench/learn_torch.py, Debian's python3-torch) as the anchor. Ours and the anchor train AT THE SAME
// TIME, one core each (wasm is single-threaded; torch gets --torch-threads 1), so both see the same
// machine load; backends after the first run after them. Writes every epoch to --out (JSON).
import { spawn, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { loadConfig } from "../shared/config.ts";
import { parseRunSpec, specStepsPerEpoch } from "../shared/run-spec.ts";
import { scheduleValueAtIteration, parseSchedule } from "../shared/schedule/mod.ts";
import { dataSourcesFromConfig, loadRawDataset } from "../worker/data/load-dataset.ts";
import { prepareData, type PreparedData } from "../worker/data/prepare-data.ts";
import { parseBackendChoice, selectBackend } from "../worker/tf/select-backend.ts";
import { trainRun } from "../worker/train/train-run.ts";
import { formatIssues } from "../shared/issue.ts";

interface EpochRow {
  backend: string;
  epoch: number;
  loss: number;
  acc: number;
  valLoss: number;
  valAcc: number;
  seconds: number;
}

const { values: args } = parseArgs({
  options: {
    epochs: { type: "string", default: "30" },
    "train-size": { type: "string" },
    "validation-size": { type: "string" },
    depth: { type: "string", default: "20" },
    batch: { type: "string", default: "64" },
    backends: { type: "string", default: "wasm" },
    torch: { type: "string", default: "auto" },
    "torch-threads": { type: "string", default: "1" },
    /** Threads of the native backend (ours runs beside the anchor: one core each by default). */
    threads: { type: "string", default: "1" },
    out: { type: "string" },
  },
  strict: true,
});
const epochs = Number(args.epochs);
if (!Number.isInteger(epochs) || epochs < 3) throw new RangeError(`--epochs must be an integer ≥ 3, got ${args.epochs}`);

/** The seed's shape (constant to 14/34, cosine to 24/34, linear tail) at `epochs`. */
export function seedShapedSchedule(e: number): string {
  const a = Math.max(1, Math.round((14 / 34) * e));
  const b = Math.max(a + 1, Math.round((24 / 34) * e));
  return b < e ? `[1e-3, 0]lin[1e-3, ${a}]cos[1e-5, ${b}]lin[6e-6, ${e}]` : `[1e-3, 0]lin[1e-3, ${a}]cos[1e-5, ${e}]`;
}

const parsed = parseRunSpec({
  name: "bench:learn",
  model: { depth: Number(args.depth) },
  data: {
    dataset: "fashion-mnist",
    ...(args["train-size"] ? { trainSize: Number(args["train-size"]) } : {}),
    ...(args["validation-size"] ? { validationSize: Number(args["validation-size"]) } : {}),
  },
  batchSize: Number(args.batch),
  schedule: seedShapedSchedule(epochs),
});
if (!parsed.ok) throw new RangeError(formatIssues(parsed.issues));
const spec = parsed.spec;
const config = loadConfig(process.env);
const data = prepareData(await loadRawDataset(spec.data, dataSourcesFromConfig(config)), spec.data);
const steps = specStepsPerEpoch(spec);
console.log(
  `bench:learn: ResNet${spec.model.depth}v2 on Fashion-MNIST, ${data.train.count} training / ${data.validation.count} ` +
    `validation images, batch ${spec.batchSize}, ${steps} steps per epoch, ${epochs} epochs, schedule ${spec.schedule}`,
);

const rows: EpochRow[] = [];
const print = (r: EpochRow) => {
  rows.push(r);
  console.log(
    `${r.backend.padEnd(8)} epoch ${String(r.epoch).padStart(2)}  loss ${r.loss.toFixed(4)}  acc ${r.acc.toFixed(4)}  ` +
      `val_loss ${r.valLoss.toFixed(4)}  val_acc ${r.valAcc.toFixed(4)}  ${r.seconds.toFixed(1)} s`,
  );
};

const torchWanted = args.torch === "on" || (args.torch === "auto" &&
  spawnSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore" }).status === 0);
if (args.torch === "on" && !torchWanted) throw new Error("--torch on: /usr/bin/python3 cannot import torch (apt-get install python3-torch)");
const torchRun = torchWanted ? startTorch(data) : null;
if (!torchWanted) console.log("bench:learn: no PyTorch anchor (/usr/bin/python3 cannot import torch: apt-get install python3-torch)");

for (const name of args.backends.split(",").map((s) => s.trim()).filter(Boolean)) {
  const backend = await selectBackend(parseBackendChoice(name), { log: () => {}, threads: Number(args.threads) });
  const started = performance.now();
  await trainRun(backend.tf, spec, {
    data,
    onEpochEnd: (m) => print({ backend: backend.name, epoch: m.epoch, loss: m.loss, acc: m.acc, valLoss: m.valLoss, valAcc: m.valAcc, seconds: m.seconds }),
  });
  console.log(`${backend.name}: ${((performance.now() - started) / 1000).toFixed(0)} s in all`);
}
if (torchRun) {
  const seconds = await torchRun;
  console.log(`torch: ${seconds.toFixed(0)} s in all`);
}

// The summary: val_acc per epoch, and time per epoch as a ratio to the anchor (same run, same load).
const backends = [...new Set(rows.map((r) => r.backend))].sort((a, b) => Number(a === "torch") - Number(b === "torch"));
console.log(`\nepoch | ${backends.map((b) => `${b} val_acc | ${b} s`).join(" | ")}`);
for (let e = 1; e <= epochs; e++) {
  const cells = backends.map((b) => {
    const r = rows.find((x) => x.backend === b && x.epoch === e);
    return r ? `${r.valAcc.toFixed(4)} | ${r.seconds.toFixed(0)}` : "– | –";
  });
  console.log(`${e} | ${cells.join(" | ")}`);
}
const total = (b: string) => rows.filter((r) => r.backend === b).reduce((a, r) => a + r.seconds, 0);
if (backends.includes("torch")) {
  for (const b of backends.filter((x) => x !== "torch")) console.log(`${b} / torch wall time: ${(total(b) / total("torch")).toFixed(2)}x`);
}
const out = args.out ?? path.join("bench", "results", `learn-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, JSON.stringify({ spec, steps, rows }, null, 2));
console.log(`wrote ${out}`);

/** Starts bench/learn_torch.py on the same prepared data and LRs; resolves with its wall seconds. */
function startTorch(d: PreparedData): Promise<number> {
  return (async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "bench-learn-"));
    const lr = parseSchedule(spec.schedule);
    const lrs = Float32Array.from({ length: steps * epochs }, (_, i) => scheduleValueAtIteration(lr, i, steps));
    await writeFile(path.join(dir, "meta.json"), JSON.stringify({ imageSize: d.imageSize, channels: d.channels, train: d.train.count, validation: d.validation.count }));
    await writeFile(path.join(dir, "train_x.u8"), d.train.pixels);
    await writeFile(path.join(dir, "train_y.u8"), d.train.labels);
    await writeFile(path.join(dir, "val_x.u8"), d.validation.pixels);
    await writeFile(path.join(dir, "val_y.u8"), d.validation.labels);
    await writeFile(path.join(dir, "mean.f32"), new Uint8Array(d.mean.buffer));
    await writeFile(path.join(dir, "lr.f32"), new Uint8Array(lrs.buffer));
    const started = performance.now();
    const child = spawn("/usr/bin/python3", [
      path.join("bench", "learn_torch.py"), "--data", dir, "--epochs", String(epochs), "--depth", String(spec.model.depth),
      "--batch", String(spec.batchSize), "--lam", String(spec.optimizer.lambda), "--shift", String(spec.data.shift),
      "--flip", spec.data.flip ? "1" : "0", "--seed", String(spec.data.seed), "--threads", args["torch-threads"],
    ], { stdio: ["ignore", "pipe", "inherit"] });
    for await (const line of createInterface({ input: child.stdout })) {
      const r = JSON.parse(line) as Omit<EpochRow, "backend">;
      print({ backend: "torch", ...r });
    }
    const code = await new Promise<number | null>((r) => child.once("close", r));
    await rm(dir, { recursive: true, force: true });
    if (code !== 0) throw new Error(`bench/learn_torch.py exited with ${code}`);
    return (performance.now() - started) / 1000;
  })();
}
