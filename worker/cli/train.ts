/**
 * `npm run train -- --spec spec.json [--out metrics.csv] [--backend auto|tensorflow|webgpu|native|wasm|cpu]
 *   [--checkpoint-dir DIR] [--fresh] [--progress-every N] [--label NAME]`
 *
 * Trains one run spec without the service: a progress bar per epoch with ETA (on a terminal), a line
 * per epoch in the seed's table style, the seed's summary row at the end, and optionally a CSV of the
 * epochs. With a checkpoint folder (`--checkpoint-dir` or CHECKPOINT_DIR) a checkpoint is written
 * after every epoch, and a run of the same spec resumes from it (unless `--fresh`). Ctrl-C or SIGTERM
 * stops between batches after writing a checkpoint. Data comes from CIFAR10_DIR / FASHION_MNIST_DIR
 * (fetched there on first use; Fashion-MNIST also from Debian's package) or is generated
 * (`"dataset": "synthetic"`): see worker/data/load-dataset.ts.
 * Exit status: 0 done, or stopped cleanly by SIGTERM/SIGINT (a checkpoint written, if there is a
 * checkpoint folder: the same command resumes); 1 training failed; 2 bad arguments or spec; 130 a
 * second signal that gave up at once. A clean stop is 0 so that `docker stop` / `systemctl stop` see a
 * service that did what it was asked.
 */
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cpuThreads, loadConfig } from "../../shared/config.ts";
import { stopsWithParent, watchParent } from "../../shared/watch-parent.ts";
import { parseRunSpec, type RunSpec } from "../../shared/run-spec.ts";
import { dataSourcesFromConfig, describeDataEvent, loadRawDataset } from "../data/load-dataset.ts";
import { backendChoices, parseBackendChoice, selectBackend } from "../tf/select-backend.ts";
import { fileCheckpointStore, writeFileAtomic } from "../train/checkpoint.ts";
import type { EpochMetrics } from "../train/metrics.ts";
import { formatProgressBar } from "../train/progress-bar.ts";
import {
  CSV_HEADER, EPOCH_HEADER, formatCsvRow, formatEpochRow, formatSummaryTable,
} from "../train/seed-table.ts";
import { specFingerprint } from "../train/train-spec.ts";
import type { StopRequest } from "../runner/trainer.ts";
import { trainRun } from "../train/train-run.ts";
import { formatIssues } from "../../shared/issue.ts";

const USAGE = `usage: npm run train -- --spec spec.json [--out metrics.csv] [--backend auto|tensorflow|webgpu|native|wasm|cpu]
                      [--checkpoint-dir DIR] [--fresh] [--progress-every N] [--label NAME]`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        spec: { type: "string" },
        out: { type: "string" },
        backend: { type: "string" },
        "checkpoint-dir": { type: "string" },
        fresh: { type: "boolean", default: false },
        "progress-every": { type: "string" },
        label: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
    if (args.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (!args.spec) throw new UsageError("--spec is required");
    if (args.backend && !(backendChoices as readonly string[]).includes(args.backend)) {
      throw new UsageError(`--backend must be one of ${backendChoices.join(", ")}, got ${JSON.stringify(args.backend)}`);
    }
  } catch (e) {
    process.stderr.write(`train: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const progressEvery = args["progress-every"] === undefined ? 10 : Number(args["progress-every"]);
  if (!Number.isInteger(progressEvery) || progressEvery < 1) {
    process.stderr.write(`train: --progress-every must be a positive integer, got ${args["progress-every"]}\n`);
    return 2;
  }

  const config = loadConfig(process.env);
  let spec: RunSpec;
  try {
    const parsed = parseRunSpec(JSON.parse(await readFile(args.spec, "utf8")));
    if (!parsed.ok) {
      process.stderr.write(`train: invalid spec ${args.spec}:\n  ${formatIssues(parsed.issues, "\n  ")}\n`);
      return 2;
    }
    spec = parsed.spec;
  } catch (e) {
    process.stderr.write(`train: cannot read spec ${args.spec}: ${(e as Error).message}\n`);
    return 2;
  }

  const { tf, name: backend } = await selectBackend(parseBackendChoice(args.backend ?? config.BACKEND),
    { webgpuDriver: config.WEBGPU_DRIVER, threads: cpuThreads(config, availableParallelism()) });
  const label = args.label ?? spec.name ?? "run";
  const checkpointDir = args["checkpoint-dir"] ?? config.CHECKPOINT_DIR;
  const store = checkpointDir
    ? fileCheckpointStore(join(checkpointDir, `train-${specFingerprint(spec)}.ckpt`), {
      onDamaged: (message) => process.stderr.write(`checkpoint damaged: ${message}\n`),
    })
    : undefined;
  if (store && args.fresh) await store.clear();

  let stop: StopRequest | false = false;
  let stopAt = 0;
  const onSignal = (signal: string) => {
    // One Ctrl-C arrives twice (from the terminal and passed on by npm) within milliseconds: only a
    // signal well after the first one means "give up at once".
    if (stop && Date.now() - stopAt < 1000) return;
    if (stop) process.exit(130);
    stop = "drain";
    stopAt = Date.now();
    process.stderr.write(`\n${signal}: stopping after this batch${store ? " and writing a checkpoint" : ""} (again to quit now)\n`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // `npm run train` execs us, so npm passes signals on; a parent that dies without doing so (kill -9)
  // stops the run the same way rather than leave it training as an orphan.
  if (stopsWithParent(process.env, process.argv)) watchParent(() => process.ppid, () => onSignal("parent exited"));

  const tty = process.stderr.isTTY === true;
  // Every epoch row so far (resumed ones included); the CSV is rewritten atomically after each epoch.
  const rows = new Map<number, EpochMetrics>();
  const out = args.out;
  const writeCsv = async () => {
    if (!out) return;
    const lines = [...rows.values()].sort((a, b) => a.epoch - b.epoch).map(formatCsvRow);
    await writeFileAtomic(out, new TextEncoder().encode([CSV_HEADER, ...lines].join("\n") + "\n"));
  };

  process.stderr.write(`train: ${label}: backend ${backend}, ${spec.data.dataset} data, depth ${spec.model.depth}, batch ${spec.batchSize}\n`);
  const raw = await loadRawDataset(spec.data, dataSourcesFromConfig(config), (e) => {
    if (e.phase !== "ready" || e.source === "fetched") process.stderr.write(`train: ${spec.data.dataset} data: ${describeDataEvent(e)}\n`);
  });
  let headerPrinted = false;
  const printHeader = () => {
    if (!headerPrinted) process.stdout.write(`${EPOCH_HEADER}\n`);
    headerPrinted = true;
  };
  try {
    const result = await trainRun(tf, spec, {
      data: raw,
      ...(store ? { checkpoints: store } : {}),
      progressEvery,
      shouldStop: () => stop,
      onResume: async ({ epochsDone, batchesDone, history }) => {
        process.stderr.write(`train: resuming from ${store!.path}: epoch ${epochsDone} done${batchesDone ? `, ${batchesDone} batches into epoch ${epochsDone + 1}` : ""}\n`);
        printHeader();
        for (const m of history) {
          rows.set(m.epoch, m);
          process.stdout.write(`${formatEpochRow(m)}\n`);
        }
        await writeCsv();
      },
      onProgress: (p) => {
        if (!tty) return;
        const bar = formatProgressBar({
          prefix: `epoch ${p.epoch}/${p.epochs}`,
          done: p.batch,
          total: p.batchesPerEpoch,
          etaSeconds: p.epochEtaSeconds,
          suffix: `loss ${p.loss.toFixed(4)} acc ${p.acc.toFixed(4)} lr ${p.lr.toExponential(2)} ${p.imagesPerSec.toFixed(1)} img/s`,
        });
        process.stderr.write(`\r\x1b[2K${bar}`);
      },
      onEpochEnd: async (m) => {
        if (tty) process.stderr.write("\r\x1b[2K");
        printHeader();
        process.stdout.write(`${formatEpochRow(m)}\n`);
        rows.set(m.epoch, m);
        await writeCsv();
      },
    });
    if (tty) process.stderr.write("\r\x1b[2K");
    process.stdout.write(`\n${formatSummaryTable(label, spec, result.summary)}`);
    // A clean stop is a success too (exit 0): it says where to resume.
    if (result.status !== "completed") {
      process.stderr.write(`train: stopped after epoch ${result.history.length}${store ? `; run the same command to resume from ${store.path}` : ""}\n`);
    }
    return 0;
  } catch (e) {
    if (tty) process.stderr.write("\n");
    process.stderr.write(`train: ${(e as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`train: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
