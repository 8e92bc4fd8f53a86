// Training-step benchmark: `npm run bench:train -- --backend wasm --depth 56 --batch 64 --steps 3`.
// Prints per-step times and, last, `img/s <number>` (median step). --profile adds the top kernels by
// time (tf.profile); --kernels measures GFLOP/s of each convolution (forward and both gradients) of
// the chosen model against the backend's own 1024² matMul. Validation (inference-mode forward) speed
// and peak RSS are printed too. --torch <anchor.py> runs the PyTorch anchor before every round of
// ours (--rounds N), with the same thread count, so that each ratio compares runs under the same load.
// --cpu-time compares CPU time per step instead of wall time (both sides); with --threads 1 that ratio
// barely moves with the machine's load, where wall-time ratios on a busy 2-core host are noise.
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import type * as tfjs from "@tensorflow/tfjs";
import { buildResNetV2, type ResNetModel } from "../worker/model/resnet-v2.ts";
import { parseBackendChoice, selectBackend } from "../worker/tf/select-backend.ts";
import type { TF } from "../worker/tf/tf-types.ts";
import { parseWebgpuDriver } from "../worker/tf/webgpu-adapter.ts";
import { AdamW } from "../worker/train/adamw.ts";
import { ClassifierSteps } from "../worker/train/classifier-steps.ts";

const { values } = parseArgs({
  options: {
    backend: { type: "string", default: process.env.BACKEND ?? "auto" },
    depth: { type: "string", default: "56" },
    batch: { type: "string", default: "64" },
    steps: { type: "string", default: "3" },
    "image-size": { type: "string", default: "32" },
    profile: { type: "boolean", default: false },
    kernels: { type: "boolean", default: false },
    threads: { type: "string" },
    layout: { type: "string" },
    torch: { type: "string" },
    rounds: { type: "string", default: "1" },
    "cpu-time": { type: "boolean", default: false },
  },
});
const depth = Number(values.depth);
const batch = Number(values.batch);
const steps = Number(values.steps);
const imageSize = Number(values["image-size"]);

const layout = values.layout as "nhwc" | "blocked" | "plain" | undefined;
const { tf, name, threads = 1 } = await selectBackend(parseBackendChoice(values.backend), {
  webgpuDriver: parseWebgpuDriver(process.env.WEBGPU_DRIVER),
  ...(values.threads ? { threads: Number(values.threads) } : {}),
  ...(layout ? { nativeLayout: layout } : {}),
});
const rounds = Number(values.rounds);
const model = buildResNetV2(tf, { depth, imageSize, seed: 1 });
const counts = model.paramCounts();
console.log(`ResNet${depth}v2 ${imageSize}×${imageSize} params ${counts.total} batch ${batch} backend ${name} threads ${threads}`);

const x = tf.randomUniform([batch, imageSize, imageSize, 3], -1, 1, "float32", 7) as tfjs.Tensor4D;
const labels = tf.randomUniform([batch], 0, 10, "int32", 8) as tfjs.Tensor1D;
const optimizer = new AdamW(tf, model.trainableVariables, { weightDecay: 0.15 });
// The product's own step (train-run.ts trains with it): forward, loss, gradients, AdamW.
const batchSteps = new ClassifierSteps(tf, model, optimizer, { l2: 0, kernels: [] });

// Read back asynchronously: the webgpu backend has no synchronous readback in Node.
async function step(): Promise<number> {
  const { loss, correct } = batchSteps.train(x, labels, { lr: 1e-3, decay: 1e-3 * 0.15 });
  const v = (await loss.data())[0]!;
  tf.dispose([loss, correct]);
  return v;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
const load = () => loadavg()[0]!.toFixed(1);

/** Runs the PyTorch anchor once with our thread count; its img/s and peak RSS (MiB). */
function torchRun(anchor: string): { imgPerSec: number; maxRssMiB: number } | null {
  // PYTHON picks the interpreter that has torch (default: Debian's, where python3-torch installs). Runs the anchor script as __main__, then prints the process's peak RSS (Linux: KiB).
  // --cpu-time: the anchor's step timer reads the process's CPU time instead of the wall clock.
  const code = (values["cpu-time"] ? "import time; time.perf_counter=time.process_time; " : "") +
    "import runpy,sys,resource; sys.argv=sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); " +
    "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)";
  const r = spawnSync(process.env.PYTHON ?? "/usr/bin/python3", ["-c", code, anchor, String(depth), String(batch), String(steps)], {
    encoding: "utf8", env: { ...process.env, TORCH_THREADS: String(threads) },
  });
  const ips = /([\d.]+) img\/s/.exec(r.stdout);
  const rss = /maxrss (\d+)/.exec(r.stdout);
  if (!ips || !rss) {
    console.log(`torch anchor failed: ${r.stderr.trim().split("\n").pop()}`);
    return null;
  }
  return { imgPerSec: Number(ips[1]), maxRssMiB: Number(rss[1]) / 1024 };
}

const wall: number[] = [];
const cpu: number[] = [];
const ratios: string[] = [];
let stepNo = 0;
for (let round = 0; round < rounds; round++) {
  const anchor = values.torch ? torchRun(values.torch) : null;
  const loadBefore = load();
  const roundWall: number[] = [];
  const roundCpu: number[] = [];
  for (let i = round === 0 ? 0 : 1; i <= steps; i++) {
    const t0 = performance.now();
    const c0 = cpuMs();
    const loss = await step();
    const dt = performance.now() - t0;
    const dc = cpuMs() - c0;
    const mem = name === "wasm" || name === "native"
      ? ` heap ${((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 20).toFixed(0)} MiB` : "";
    console.log(`step ${stepNo}${stepNo === 0 ? " (warm-up)" : ""}: ${dt.toFixed(0)} ms wall, ${dc.toFixed(0)} ms cpu, loss ${loss.toFixed(4)}, tensors ${tf.memory().numTensors}${mem}`);
    if (stepNo > 0) {
      wall.push(dt);
      cpu.push(dc);
      roundWall.push(dt);
      roundCpu.push(dc);
    }
    stepNo++;
  }
  if (anchor && roundWall.length > 0) {
    const ours = batch / (median(values["cpu-time"] ? roundCpu : roundWall) / 1000);
    const by = values["cpu-time"] ? " by CPU time" : "";
    const line = `round ${round + 1}: ours ${ours.toFixed(1)} img/s${by}, torch ${anchor.imgPerSec.toFixed(1)} img/s${by} (${threads} threads), ` +
      `ratio ${(ours / anchor.imgPerSec).toFixed(2)}, torch peak RSS ${anchor.maxRssMiB.toFixed(0)} MiB, load ${loadBefore}→${load()}`;
    ratios.push(line);
    console.log(line);
  }
}

// Validation: the inference-mode forward pass (moving statistics), as the trainer's evaluation runs it.
const val: number[] = [];
for (let i = 0; i <= Math.max(1, steps); i++) {
  const t0 = performance.now();
  const p = model.predict(x);
  await p.data();
  p.dispose();
  if (i > 0) val.push(performance.now() - t0);
}

if (values.profile) {
  const info = await tf.profile(async () => {
    await step();
  });
  const byKernel = new Map<string, { ms: number; calls: number }>();
  let total = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls += 1;
    byKernel.set(k.name, e);
    total += ms;
  }
  console.log(`profile (one step; kernel time ${total.toFixed(0)} ms, peak ${(info.peakBytes / 2 ** 20).toFixed(0)} MiB of tensors):`);
  for (const [kname, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
    console.log(`  ${kname.padEnd(28)} ${e.ms.toFixed(0).padStart(7)} ms ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  ${e.calls} calls`);
  }
}

if (values.kernels) await kernelReport(tf, model, batch);

for (const line of ratios) console.log(line);
console.log(`validation (inference forward, batch ${batch}): ${(batch / (median(val) / 1000)).toFixed(1)} img/s`);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB, load ${load()}`);
if (wall.length > 0) console.log(`median step ${median(wall).toFixed(0)} ms wall (${median(cpu).toFixed(0)} ms cpu: img/s by cpu time ${(batch / (median(cpu) / 1000)).toFixed(1)})`);
if (wall.length > 0) console.log(`img/s ${(batch / (median(wall) / 1000)).toFixed(1)}`);
model.dispose();
optimizer.dispose();

/** GFLOP/s per distinct convolution shape of the model (2·MACs per output), best of 3 runs, by cpu time. */
async function kernelReport(tf: TF, model: ResNetModel, n: number) {
  const time = async (f: () => tfjs.Tensor) => {
    let best = Infinity;
    for (let i = 0; i < 4; i++) {
      const c0 = cpuMs();
      const r = f();
      await r.data();
      const dt = cpuMs() - c0;
      r.dispose();
      if (i > 0) best = Math.min(best, dt);
    }
    return best;
  };
  const a = tf.randomNormal([1024, 1024]);
  const ceiling = (2 * 1024 ** 3) / (await time(() => tf.matMul(a, a))) / 1e6;
  a.dispose();
  console.log(`matMul 1024×1024 ceiling: ${ceiling.toFixed(1)} GFLOP/s`);
  console.log("conv (k/stride, in→out, HxW)          fwd GF/s   dx GF/s   dW GF/s   (share of ceiling)");
  const seen = new Set<string>();
  for (const row of model.layerTable()) {
    if (row.type !== "Conv2D") continue;
    const w = model.weights.find((wt) => wt.name === `${row.name}/kernel`)!.variable;
    const [k, , cin, cout] = w.shape as [number, number, number, number];
    const s = Number(row.config.split("/")[1]);
    const oh = row.outputShape[0]!;
    const h = oh * s;
    const key = `${k}×${k}/${s} ${cin}→${cout} ${h}×${h}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const flops = 2 * n * oh * oh * cout * cin * k * k;
    const xs = tf.randomNormal([n, h, h, cin]) as tfjs.Tensor4D;
    const dy = tf.randomNormal([n, oh, oh, cout]) as tfjs.Tensor4D;
    const attrs = { strides: [s, s], pad: "same", dataFormat: "NHWC" };
    const fwd = await time(() => tf.conv2d(xs, w as tfjs.Tensor4D, s as 1 | 2, "same"));
    const dx = await time(() => tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, { ...attrs, inputShape: xs.shape } as never) as tfjs.Tensor);
    const dw = await time(() => tf.engine().runKernel("Conv2DBackpropFilter", { x: xs, dy }, { ...attrs, filterShape: w.shape } as never) as tfjs.Tensor);
    const g = (ms: number) => `${(flops / ms / 1e6).toFixed(1).padStart(6)} (${((100 * flops) / ms / 1e6 / ceiling).toFixed(0).padStart(3)}%)`;
    console.log(`${key.padEnd(38)} ${g(fwd)} ${g(dx)} ${g(dw)}`);
    xs.dispose();
    dy.dispose();
  }
}
