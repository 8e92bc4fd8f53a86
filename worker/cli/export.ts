/**
 * `npm run export -- --run <id> --out dir/ [--weights best|final] [--api URL] [--token T]`
 *
 * Downloads a succeeded run's network from the API (`GET /v1/runs/:id/model/model.json` and its
 * shards) into `dir/`: the same model.json and shard files the API serves, loadable with
 * tf.loadLayersModel and convertible to a Keras .h5 with
 * `tensorflowjs_converter --input_format=tfjs_layers_model --output_format=keras dir/model.json model.h5`.
 * The API's URL and a read token come from --api/--token or API_URL (default http://127.0.0.1:8000)
 * and API_TOKEN. Exit status: 0 written, 1 the API refused or failed (its message is printed: 409 for a
 * run that has not succeeded), 2 bad arguments.
 */
import { parseArgs } from "node:util";
import { MODEL_WEIGHTS, type ModelWeights } from "../../shared/model-artifact.ts";
import { fetchRunModel } from "../model/export-client.ts";
import { writeModelFiles } from "../model/export-files.ts";
import { apiAccessFromArgs, CLI_UUID } from "./model-cli-args.ts";

const USAGE = "usage: npm run export -- --run <id> --out dir/ [--weights best|final] [--api URL] [--token T]";

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        run: { type: "string" },
        out: { type: "string" },
        weights: { type: "string", default: "best" },
        api: { type: "string" },
        token: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`export: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const problems: string[] = [];
  if (values.run === undefined || !CLI_UUID.test(values.run)) problems.push(`--run must be a run id (a UUID), got ${JSON.stringify(values.run ?? null)}`);
  if (values.out === undefined || values.out === "") problems.push("--out is required: the folder to write model.json and its shards into");
  if (!(MODEL_WEIGHTS as readonly string[]).includes(values.weights)) problems.push(`--weights must be best or final, got ${JSON.stringify(values.weights)}`);
  const api = apiAccessFromArgs(values, process.env, problems);
  if (problems.length > 0 || api === null) {
    process.stderr.write(`export: ${problems.join("; ")}\n${USAGE}\n`);
    return 2;
  }
  try {
    const { json, data } = await fetchRunModel(api, values.run!, values.weights as ModelWeights);
    const files = await writeModelFiles(values.out!, json, data);
    const m = json.userDefinedMetadata;
    process.stdout.write(
      `run ${m.runId}${m.runName ? ` (${m.runName})` : ""}: ${m.weights} weights of epoch ${m.epoch}, val_acc ${m.valAcc}` +
        `${m.testAcc !== null ? `, test_acc ${m.testAcc}` : ""}\n${files.map((f) => `wrote ${f}`).join("\n")}\n`,
    );
    return 0;
  } catch (e) {
    process.stderr.write(`export: ${(e as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
