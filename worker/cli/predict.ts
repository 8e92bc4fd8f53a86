/**
 * `npm run predict -- --run <id> [--weights best|final] [--api URL] [--token T] [--top 3] image.png|dir ...`
 * `npm run predict -- --model dir/model.json [--top 3] image.png|dir ...`
 *
 * Classifies PNG images with a run's exported network, loaded by tf.loadLayersModel straight from the
 * API (or from a folder `npm run export` wrote), and the run's own preprocessing from the model's
 * metadata: channels (RGB, or luma for a grey model), resized bilinearly when the image's size is not
 * the model's input size, x/255 − the per-pixel mean the run trained with. Prints each image with its
 * top classes and their probabilities. A folder argument takes the .png files in it.
 * Exit status: 0 done, 1 an image or the model could not be read, 2 bad arguments.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import type * as tfjs from "@tensorflow/tfjs";
import { PNG } from "pngjs";
import { MODEL_WEIGHTS, type ModelMetadata, modelMetadataSchema, type ModelWeights } from "../../shared/model-artifact.ts";
import { runModelUrl } from "../model/export-client.ts";
import { modelFolderHandler } from "../model/export-files.ts";
import { imageChannels, normalizeImage, topClasses } from "../model/export-preprocess.ts";
import { parseBackendChoice, selectBackend } from "../tf/select-backend.ts";
import { apiAccessFromArgs, CLI_UUID } from "./model-cli-args.ts";

const USAGE = `usage: npm run predict -- --run <id> [--weights best|final] [--api URL] [--token T] [--top 3] image.png|dir ...
       npm run predict -- --model dir/model.json [--top 3] image.png|dir ...`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        run: { type: "string" },
        model: { type: "string" },
        weights: { type: "string", default: "best" },
        api: { type: "string" },
        token: { type: "string" },
        top: { type: "string", default: "3" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    });
  } catch (e) {
    process.stderr.write(`predict: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const problems: string[] = [];
  if ((values.run === undefined) === (values.model === undefined)) problems.push("give either --run <id> (from the API) or --model dir/model.json");
  if (values.run !== undefined && !CLI_UUID.test(values.run)) problems.push(`--run must be a run id (a UUID), got ${JSON.stringify(values.run)}`);
  if (!(MODEL_WEIGHTS as readonly string[]).includes(values.weights)) problems.push(`--weights must be best or final, got ${JSON.stringify(values.weights)}`);
  const top = Number(values.top);
  if (!Number.isInteger(top) || top < 1) problems.push(`--top must be a whole number ≥ 1, got ${JSON.stringify(values.top)}`);
  if (positionals.length === 0) problems.push("name at least one PNG image or folder");
  const api = values.run !== undefined ? apiAccessFromArgs(values, process.env, problems) : null;
  if (problems.length > 0) {
    process.stderr.write(`predict: ${problems.join("; ")}\n${USAGE}\n`);
    return 2;
  }

  let images: string[];
  try {
    images = await pngFiles(positionals);
  } catch (e) {
    process.stderr.write(`predict: ${(e as Error).message}\n`);
    return 1;
  }
  const { tf } = await selectBackend(parseBackendChoice(process.env.BACKEND ?? "auto"), { log: () => {} });
  let model: tfjs.LayersModel;
  let meta: ModelMetadata;
  try {
    model = api !== null
      ? await tf.loadLayersModel(runModelUrl(api.apiUrl, values.run!, values.weights as ModelWeights), {
        requestInit: { headers: { Authorization: `Bearer ${api.token}` } },
      })
      : await tf.loadLayersModel(modelFolderHandler(tf, values.model!));
    const m = modelMetadataSchema.safeParse(model.getUserDefinedMetadata());
    if (!m.success) throw new Error(`the model has no valid metadata: ${m.error.issues[0]!.path.join(".")}: ${m.error.issues[0]!.message}`);
    meta = m.data;
  } catch (e) {
    process.stderr.write(`predict: cannot load the model: ${(e as Error).message}\n`);
    return 1;
  }
  const [h, w, c] = meta.preprocessing.shape;
  process.stdout.write(`run ${meta.runId}${meta.runName ? ` (${meta.runName})` : ""}, ${meta.weights} weights of epoch ${meta.epoch} ` +
    `(val_acc ${meta.valAcc}${meta.testAcc !== null ? `, test_acc ${meta.testAcc}` : ""}), input ${h}×${w}×${c}\n`);
  let failed = 0;
  // data(), not dataSync(): BACKEND=auto picks webgpu on a GPU host, which cannot read back synchronously.
  const read = async (f: () => tfjs.Tensor): Promise<Float32Array> => {
    const t = tf.tidy(f);
    try {
      return (await t.data()) as Float32Array;
    } finally {
      t.dispose();
    }
  };
  for (const file of images) {
    try {
      const png = PNG.sync.read(await readFile(file));
      const values01 = imageChannels({ width: png.width, height: png.height, data: png.data }, c);
      const sized = png.width === w && png.height === h ? values01 : await read(() =>
        tf.image.resizeBilinear(tf.tensor3d(values01, [png.height, png.width, c]), [h, w]));
      const x = normalizeImage(sized, meta.preprocessing);
      const probs = await read(() => model.predict(tf.tensor4d(x, [1, h, w, c])) as tfjs.Tensor);
      const best = topClasses(probs, meta.classNames, top);
      const note = png.width === w && png.height === h ? "" : ` (resized from ${png.width}×${png.height})`;
      process.stdout.write(`${file}${note}\n${best.map((b) => `  ${b.name.padEnd(12)} ${b.p.toFixed(4)}`).join("\n")}\n`);
    } catch (e) {
      failed++;
      process.stderr.write(`predict: ${file}: ${(e as Error).message}\n`);
    }
  }
  model.dispose();
  return failed > 0 ? 1 : 0;
}

/** The files named, with every .png in a named folder (sorted). */
async function pngFiles(args: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const arg of args) {
    const s = await stat(arg).catch(() => null);
    if (s === null) throw new Error(`${arg}: no such file or folder`);
    if (s.isDirectory()) {
      const names = (await readdir(arg)).filter((n) => n.toLowerCase().endsWith(".png")).sort();
      if (names.length === 0) throw new Error(`${arg}: the folder has no .png files`);
      out.push(...names.map((n) => path.join(arg, n)));
    } else out.push(arg);
  }
  return out;
}

process.exitCode = await main(process.argv.slice(2));
