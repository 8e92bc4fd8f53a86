/**
 * `npm run model -- --depth 56 [--dataset cifar10|fashion-mnist] [--shortcut-kernel 1|3]
 *  [--bottleneck atienza|extreme] [--head avgpool|flatten] [--image-size 32] [--classes 10]`
 *
 * Prints the ResNet v2 layer table and `params: N` / `trainable: N` (depth 56: 1673738 / 1663338;
 * with `--dataset fashion-mnist`, whose grey images enter as 32×32×1, the stem conv has 288 fewer).
 * Builds the model on the plain cpu backend: nothing is computed, only the variables are created.
 * Bad arguments print a message on stderr and exit with status 2.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { formatLayerTable } from "../model/format-layer-table.ts";
import { DATASET_INPUT } from "../data/load-dataset.ts";
import { buildResNetV2, type ResNetV2Options } from "../model/resnet-v2.ts";

const USAGE =
  "usage: npm run model -- --depth 56 [--dataset cifar10|fashion-mnist] [--shortcut-kernel 1|3] " +
  "[--bottleneck atienza|extreme] [--head avgpool|flatten] [--image-size 32] [--classes 10]";

function parse(argv: string[]): ResNetV2Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      depth: { type: "string", default: "56" },
      dataset: { type: "string", default: "cifar10" },
      "shortcut-kernel": { type: "string", default: "1" },
      bottleneck: { type: "string", default: "atienza" },
      head: { type: "string", default: "avgpool" },
      "image-size": { type: "string", default: "32" },
      classes: { type: "string", default: "10" },
    },
    strict: true,
  });
  const input = DATASET_INPUT[values.dataset as keyof typeof DATASET_INPUT];
  if (input === undefined) {
    throw new RangeError(`--dataset must be ${Object.keys(DATASET_INPUT).join(" or ")}, got ${JSON.stringify(values.dataset)}`);
  }
  if (values["image-size"] !== "32" && values.dataset !== "cifar10") {
    throw new RangeError(`--image-size is fixed for ${values.dataset}: its images enter as ${input.imageSize}×${input.imageSize}×${input.channels}`);
  }
  return {
    channels: input.channels,
    depth: Number(values.depth),
    shortcutKernel: Number(values["shortcut-kernel"]) as 1 | 3,
    bottleneck: values.bottleneck as "atienza" | "extreme",
    head: values.head as "avgpool" | "flatten",
    imageSize: Number(values["image-size"]),
    numClasses: Number(values.classes),
  };
}

let options: ResNetV2Options;
try {
  options = parse(process.argv.slice(2));
  tf.env().set("PROD", true); // no "install tfjs-node" banner: this CLI computes nothing
  await tf.setBackend("cpu");
  const model = buildResNetV2(tf, options);
  process.stdout.write(formatLayerTable(model.layerTable(), model.paramCounts()));
  model.dispose();
} catch (e) {
  if (e instanceof RangeError || e instanceof TypeError) {
    console.error(`${e.message}\n${USAGE}`);
    process.exit(2);
  }
  throw e;
}
