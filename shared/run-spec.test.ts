import assert from "node:assert/strict";
import { z } from "zod";
import {
  parseRunSpec,
  type RunSpec,
  type RunSpecInput,
  runSpecSchema,
  specEpochs,
  specStepsPerEpoch,
  trainingPoolSize,
  trainingSetSize,
} from "./run-spec.ts";
import { SEED_SCHEDULES } from "./schedule/seed-schedules.ts";

const SCHEDULE = "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]";
const CANONICAL = "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]";

function accept(input: unknown): RunSpec {
  const result = parseRunSpec(input);
  if (!result.ok) assert.fail(`rejected ${JSON.stringify(input)}: ${JSON.stringify(result.issues)}`);
  return result.spec;
}

Deno.test("parseRunSpec() fills every default of the seed's recipe exactly", () => {
  assert.deepEqual(accept({ schedule: SCHEDULE }), {
    priority: 0,
    tags: [],
    maxAttempts: 3,
    model: { depth: 56, shortcutKernel: 1, bottleneck: "atienza", head: "avgpool" },
    data: {
      dataset: "cifar10",
      validation: "split",
      validationSize: 10000,
      stratified: true,
      seed: 1,
      shift: 0.07,
      flip: true,
    },
    optimizer: { alpha: 1e-3, lambda: 0.15, l2: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    batchSize: 64,
    schedule: CANONICAL,
    threshold: 0.92,
  });
});

Deno.test("parseRunSpec() accepts the design's example spec", () => {
  const example = {
    name: "run 17",
    model: { depth: 56 },
    data: { dataset: "cifar10", validationSize: 10000, stratified: true, seed: 1, shift: 0.07, flip: true },
    optimizer: { alpha: 1e-3, lambda: 0.15, l2: 0 },
    batchSize: 64,
    schedule: "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]",
    threshold: 0.92,
  } satisfies RunSpecInput;
  const spec = accept(example);
  assert.equal(spec.name, "run 17");
  assert.deepEqual(spec, { ...accept({ schedule: SCHEDULE }), name: "run 17" });
  assert.equal(specEpochs(spec), 34);
  assert.equal(trainingPoolSize(spec), 50000);
  assert.equal(trainingSetSize(spec), 40000);
  assert.equal(specStepsPerEpoch(spec), 625);
});

Deno.test("parseRunSpec() accepts seed Table 3 run 20 written as a spec", () => {
  const spec = accept({
    name: "seed run 20",
    tags: ["seed", "table-3"],
    data: { shift: 0.07 },
    optimizer: { alpha: 1.25e-3, lambda: 0.18, l2: 0.0 },
    batchSize: 64,
    schedule: "[1.e-3, 0]lin[1.25e-3, 6]lin[1.25e-3, 10]cos[1.e-5, 20]lin[6.e-6, 30]",
  });
  assert.equal(spec.schedule, "[1e-3, 0]lin[1.25e-3, 6]lin[1.25e-3, 10]cos[1e-5, 20]lin[6e-6, 30]");
  assert.deepEqual(spec.optimizer, {
    alpha: 1.25e-3,
    lambda: 0.18,
    l2: 0,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-7,
  });
  assert.equal(specEpochs(spec), 30);
});

Deno.test("parseRunSpec() accepts every row of the seed's tables with its α and λ", () => {
  for (const row of SEED_SCHEDULES) {
    const spec = accept({
      name: `seed run ${row.run}`,
      optimizer: { alpha: Number(row.alpha), lambda: row.lambda, l2: 0 },
      data: { shift: 0.07 },
      batchSize: 64,
      schedule: row.schedule,
    });
    assert.equal(spec.optimizer.alpha, Number(row.alpha), `run ${row.run}`);
  }
});

Deno.test("parseRunSpec() takes the schedule in the structured JSON form and stores canonical text", () => {
  const spec = accept({
    schedule: [
      { epoch: 0, value: 1e-3 },
      { shape: "lin", epoch: 14, value: 1e-3 },
      { shape: "cos", epoch: 24, value: 1e-5 },
      { shape: "lin", epoch: 34, value: 6e-6 },
    ],
    wdSchedule: [{ epoch: 0, value: 1.5e-4 }, { shape: "cos", epoch: 34, value: 0 }],
  });
  assert.equal(spec.schedule, CANONICAL);
  assert.equal(spec.wdSchedule, "[1.5e-4, 0]cos[0, 34]");
});

Deno.test("parseRunSpec() defaults a synthetic data set to CIFAR-10's shape and ratio", () => {
  assert.deepEqual(accept({ schedule: SCHEDULE, data: { dataset: "synthetic" } }).data, {
    dataset: "synthetic",
    validation: "split",
    validationSize: 10000,
    stratified: true,
    seed: 1,
    shift: 0.07,
    flip: true,
    trainSize: 50000,
    imageSize: 32,
  });
  const small = accept({
    schedule: "[1e-3, 0]cos[1e-5, 2]",
    batchSize: 32,
    data: { dataset: "synthetic", trainSize: 640, imageSize: 8 },
  });
  assert.equal(small.data.validationSize, 128);
  assert.equal(trainingPoolSize(small), 640);
  assert.equal(trainingSetSize(small), 512);
  assert.equal(specStepsPerEpoch(small), 16);
  const partial = accept({
    schedule: "[1e-3, 0]cos[1e-5, 2]",
    batchSize: 100,
    data: { dataset: "synthetic", trainSize: 640 },
  });
  assert.equal(specStepsPerEpoch(partial), 6); // 512 images: 5 full batches and one of 12
});

Deno.test("parseRunSpec() takes fashion-mnist with the seed's split, and a stratified subset with trainSize", () => {
  const whole = accept({ schedule: SCHEDULE, data: { dataset: "fashion-mnist" } });
  assert.deepEqual(whole.data, {
    dataset: "fashion-mnist",
    validation: "split",
    validationSize: 10000,
    stratified: true,
    seed: 1,
    shift: 0.07,
    flip: true,
  });
  assert.equal(trainingSetSize(whole), 50000);
  const quick = accept({
    schedule: "[1e-3, 0]cos[1e-5, 3]",
    model: { depth: 11 },
    data: { dataset: "fashion-mnist", trainSize: 5000, validationSize: 1000 },
  });
  assert.equal(quick.data.trainSize, 5000);
  assert.equal(trainingPoolSize(quick), 5000);
  assert.equal(trainingSetSize(quick), 4000);
  assert.equal(specStepsPerEpoch(quick), 63);
  // Without validationSize a subset keeps the seed's ratio, a fifth; cifar10 takes trainSize too.
  assert.equal(accept({ schedule: SCHEDULE, data: { trainSize: 5000 } }).data.validationSize, 1000);
  assert.deepEqual(accept(JSON.parse(JSON.stringify(quick))), quick);
});

Deno.test("parseRunSpec() validates on the test set with validation 'test'", () => {
  const spec = accept({ schedule: SCHEDULE, data: { validation: "test" } });
  assert.equal(spec.data.validationSize, 10000);
  assert.equal(trainingSetSize(spec), 50000);
  assert.equal(specStepsPerEpoch(spec), 782);
});

Deno.test("parseRunSpec() output is a valid input that parses to itself", () => {
  const inputs: unknown[] = [
    { schedule: SCHEDULE },
    { schedule: SCHEDULE, name: "  spaced  ", tags: ["a", "b"], wdSchedule: "[1e-4, 0]lin[0, 34]" },
    { schedule: "[1e-3, 0]cos[1e-5, 2]", data: { dataset: "synthetic", trainSize: 640, validation: "test" } },
    { schedule: SCHEDULE, model: { depth: 20, shortcutKernel: 3, bottleneck: "extreme", head: "flatten" } },
  ];
  for (const input of inputs) {
    const spec = accept(input);
    assert.deepEqual(accept(JSON.parse(JSON.stringify(spec))), spec);
  }
  assert.equal(accept(inputs[1]).name, "spaced");
});

Deno.test("runSpecSchema converts to JSON Schema for the API's OpenAPI document", () => {
  const schema = z.toJSONSchema(runSpecSchema, { io: "input" }) as { required?: string[] };
  assert.deepEqual(schema.required, ["schedule"]);
});

const valid = { schedule: SCHEDULE };
const name201 = "x".repeat(201);

/** [what the case is, input, the issue's dotted path, a phrase its message must contain] */
const INVALID: [string, unknown, string, string][] = [
  ["no schedule", {}, "schedule", "found nothing"],
  ["not an object", 42, "", "expected an object, found 42"],
  ["null", null, "", "expected an object, found null"],
  ["an array", [valid], "", "expected an object"],
  ["a typo at the top", { ...valid, learningRate: 1e-3 }, "learningRate", "unknown field 'learningRate'"],
  ["a near-miss key", { ...valid, batchsize: 32 }, "batchsize", "did you mean 'batchSize'?"],
  [
    "a typo in optimizer",
    { ...valid, optimizer: { learningRate: 1e-3 } },
    "optimizer.learningRate",
    "allowed: alpha",
  ],
  ["a typo in model", { ...valid, model: { depht: 56 } }, "model.depht", "did you mean 'depth'?"],
  [
    "a short unknown key",
    { ...valid, optimizer: { lr: 1e-3 } },
    "optimizer.lr",
    "(allowed: alpha, lambda, l2",
  ],
  [
    "a misspelled lambda",
    { ...valid, optimizer: { lamda: 0.2 } },
    "optimizer.lamda",
    "did you mean 'lambda'?",
  ],
  ["a typo in data", { ...valid, data: { suffle: true } }, "data.suffle", "unknown field"],
  ["an empty name", { ...valid, name: "  " }, "name", "1 to 200 characters"],
  ["a long name", { ...valid, name: name201 }, "name", "(201 characters)"],
  ["a number as name", { ...valid, name: 17 }, "name", "found 17"],
  ["priority too high", { ...valid, priority: 1001 }, "priority", "from -1000 to 1000, found 1001"],
  ["a fractional priority", { ...valid, priority: 1.5 }, "priority", "an integer"],
  ["tags not an array", { ...valid, tags: "seed" }, "tags", "an array of tags"],
  ["an empty tag", { ...valid, tags: ["ok", ""] }, "tags.1", "1 to 64 characters"],
  ["a repeated tag", { ...valid, tags: ["a", "b", "a"] }, "tags.2", "distinct tags"],
  ["too many tags", { ...valid, tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, "tags", "at most 32"],
  ["zero attempts", { ...valid, maxAttempts: 0 }, "maxAttempts", "from 1 to 10, found 0"],
  ["eleven attempts", { ...valid, maxAttempts: 11 }, "maxAttempts", "found 11"],
  ["depth not 9n+2", { ...valid, model: { depth: 50 } }, "model.depth", "9n+2"],
  ["depth too small", { ...valid, model: { depth: 2 } }, "model.depth", "found 2"],
  ["depth too large", { ...valid, model: { depth: 1010 } }, "model.depth", "to 1001"],
  ["shortcut kernel 2", { ...valid, model: { shortcutKernel: 2 } }, "model.shortcutKernel", "1 or 3"],
  [
    "unknown bottleneck",
    { ...valid, model: { bottleneck: "extrem" } },
    "model.bottleneck",
    "'atienza' or 'extreme'",
  ],
  ["unknown head", { ...valid, model: { head: "maxpool" } }, "model.head", "'avgpool' or 'flatten'"],
  ["model not an object", { ...valid, model: "resnet56" }, "model", "expected an object"],
  [
    "unknown dataset",
    { ...valid, data: { dataset: "imagenet" } },
    "data.dataset",
    "'cifar10' or 'fashion-mnist' or 'synthetic'",
  ],
  [
    "unknown validation",
    { ...valid, data: { validation: "holdout" } },
    "data.validation",
    "'split' or 'test'",
  ],
  [
    "validation as large as the pool",
    { ...valid, data: { validationSize: 50000 } },
    "data.validationSize",
    "fewer than the 50000",
  ],
  ["zero validation images", { ...valid, data: { validationSize: 0 } }, "data.validationSize", "found 0"],
  ["stratified as text", { ...valid, data: { stratified: "yes" } }, "data.stratified", "true or false"],
  ["a negative seed", { ...valid, data: { seed: -1 } }, "data.seed", "found -1"],
  [
    "shift of one half",
    { ...valid, data: { shift: 0.5 } },
    "data.shift",
    "< 0.5 (a fraction of the image size), found 0.5",
  ],
  ["a negative shift", { ...valid, data: { shift: -0.1 } }, "data.shift", "≥ 0"],
  ["flip as a number", { ...valid, data: { flip: 1 } }, "data.flip", "true or false, found 1"],
  [
    "trainSize above cifar10's training set",
    { ...valid, data: { trainSize: 50001 } },
    "data.trainSize",
    "at most 50000 (cifar10's training images), found 50001",
  ],
  [
    "trainSize above fashion-mnist's training set",
    { ...valid, data: { dataset: "fashion-mnist", trainSize: 60001 } },
    "data.trainSize",
    "at most 60000 (fashion-mnist's training images), found 60001",
  ],
  [
    "imageSize with fashion-mnist",
    { ...valid, data: { dataset: "fashion-mnist", imageSize: 28 } },
    "data.imageSize",
    "no imageSize for fashion-mnist (its images are 28×28, zero-padded to 32×32",
  ],
  [
    "a validation split as large as the subset",
    { ...valid, data: { dataset: "fashion-mnist", trainSize: 1000, validationSize: 1000 } },
    "data.validationSize",
    "fewer than the 1000 training images",
  ],
  [
    "imageSize with cifar10",
    { ...valid, data: { imageSize: 16 } },
    "data.imageSize",
    "no imageSize for cifar10",
  ],
  [
    "a tiny synthetic image",
    { ...valid, data: { dataset: "synthetic", imageSize: 4 } },
    "data.imageSize",
    "from 8 to 64",
  ],
  [
    "a one-image synthetic set",
    { ...valid, data: { dataset: "synthetic", trainSize: 1 } },
    "data.trainSize",
    "found 1",
  ],
  [
    "synthetic validation as large as its pool",
    { ...valid, data: { dataset: "synthetic", trainSize: 1000, validationSize: 1000 } },
    "data.validationSize",
    "fewer than the 1000",
  ],
  [
    "validationSize with the test set",
    { ...valid, data: { validation: "test", validationSize: 5000 } },
    "data.validationSize",
    "no validationSize",
  ],
  ["alpha other than the peak", { ...valid, optimizer: { alpha: 2e-3 } }, "optimizer.alpha", "peak LR 1e-3"],
  ["alpha of zero", { ...valid, optimizer: { alpha: 0 } }, "optimizer.alpha", "> 0, found 0"],
  ["a negative lambda", { ...valid, optimizer: { lambda: -0.1 } }, "optimizer.lambda", "≥ 0, found -0.1"],
  [
    "lambda that wipes out the weights",
    { ...valid, optimizer: { lambda: 1000 } },
    "optimizer.lambda",
    "peak LR × lambda < 1",
  ],
  ["l2 not a number", { ...valid, optimizer: { l2: Number.NaN } }, "optimizer.l2", "found NaN"],
  ["beta1 of 1", { ...valid, optimizer: { beta1: 1 } }, "optimizer.beta1", "< 1, found 1"],
  ["a negative beta2", { ...valid, optimizer: { beta2: -0.1 } }, "optimizer.beta2", "≥ 0"],
  ["epsilon of zero", { ...valid, optimizer: { epsilon: 0 } }, "optimizer.epsilon", "> 0"],
  ["batch size 0", { ...valid, batchSize: 0 }, "batchSize", "from 1 to 4096, found 0"],
  ["batch size 4097", { ...valid, batchSize: 4097 }, "batchSize", "found 4097"],
  ["a fractional batch size", { ...valid, batchSize: 64.5 }, "batchSize", "found 64.5"],
  ["batch size as text", { ...valid, batchSize: "64" }, "batchSize", 'found "64"'],
  [
    "a schedule syntax error",
    { schedule: "[1.e-3, 0]sin[1.e-5, 24]" },
    "schedule",
    "at offset 10, found 'sin'",
  ],
  ["more than 1000 epochs", { schedule: "[1e-3, 0]cos[1e-5, 1200]" }, "schedule", "≤ 1000 at offset 19"],
  [
    "decreasing epochs",
    { schedule: "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 10]" },
    "schedule",
    "greater than 14 (epochs must increase) at offset 32",
  ],
  ["a schedule that is a number", { schedule: 5 }, "schedule", "expected schedule text"],
  [
    "a knot with a text epoch",
    { schedule: [{ epoch: 0, value: 1e-3 }, { shape: "cos", epoch: "24", value: 1e-5 }] },
    "schedule.1.epoch",
    'found "24"',
  ],
  [
    "a knot with an unknown key",
    { schedule: [{ epoch: 0, value: 1e-3 }, { shape: "cos", epoch: 24, lr: 1e-5 }] },
    "schedule.1.lr",
    "unknown field 'lr'",
  ],
  [
    "a knot without a shape",
    { schedule: [{ epoch: 0, value: 1e-3 }, { epoch: 24, value: 1e-5 }] },
    "schedule.1.shape",
    "'lin' or 'cos'",
  ],
  ["an all-zero schedule", { schedule: "[0, 0]lin[0, 10]" }, "schedule", "above 0"],
  [
    "a wd schedule ending elsewhere",
    { ...valid, wdSchedule: "[1e-4, 0]lin[0, 30]" },
    "wdSchedule",
    "last epoch 34",
  ],
  ["a wd schedule of 1", { ...valid, wdSchedule: "[1, 0]lin[0, 34]" }, "wdSchedule", "values < 1"],
  [
    "a wd schedule syntax error",
    { ...valid, wdSchedule: "[1e-4, 0]lin[0 34]" },
    "wdSchedule",
    "expected ',' at offset 15, found '34'",
  ],
  ["threshold 0", { ...valid, threshold: 0 }, "threshold", "> 0 and ≤ 1, found 0"],
  ["threshold above 1", { ...valid, threshold: 1.01 }, "threshold", "found 1.01"],
  ["an infinite threshold", { ...valid, threshold: Infinity }, "threshold", "found Infinity"],
];

Deno.test(`parseRunSpec() rejects ${INVALID.length} invalid specs, naming the field and the rule`, () => {
  const cases = new Set(INVALID.map(([what]) => what));
  assert.equal(cases.size, INVALID.length, "every case is distinct");
  for (const [what, input, path, phrase] of INVALID) {
    const result = parseRunSpec(input);
    assert.equal(result.ok, false, `${what}: accepted`);
    if (result.ok) continue;
    const issue = result.issues.find((i) => i.path === path);
    assert.ok(issue !== undefined, `${what}: no issue at "${path}" in ${JSON.stringify(result.issues)}`);
    assert.ok(issue.message.includes(phrase), `${what}: "${issue.message}" lacks "${phrase}"`);
  }
});

Deno.test("parseRunSpec() reports every broken field at once, one issue per field", () => {
  const result = parseRunSpec({
    schedule: SCHEDULE,
    batchSize: 0,
    threshold: 2,
    optimizer: { lambda: -1, lr: 1 },
  });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.deepEqual(result.issues.map((i) => i.path).sort(), [
    "batchSize",
    "optimizer.lambda",
    "optimizer.lr",
    "threshold",
  ]);
});

Deno.test("parseRunSpec() splits several unknown keys into one issue each", () => {
  const result = parseRunSpec({ schedule: SCHEDULE, epochs: 34, lr: 1e-3 });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.deepEqual(result.issues.map((i) => i.path), ["epochs", "lr"]);
});

Deno.test("parseRunSpec() keeps a schedule syntax error's offset in the zod issue's params", () => {
  const result = runSpecSchema.safeParse({ schedule: "[1.e-3, 0]sin[1.e-5, 24]" });
  assert.equal(result.success, false);
  const issue = result.error!.issues[0]!;
  assert.deepEqual(issue.path, ["schedule"]);
  assert.equal(issue.message, "Cannot parse schedule: expected 'lin' or 'cos' at offset 10, found 'sin'");
  assert.deepEqual((issue as { params?: unknown }).params, {
    offset: 10,
    expected: "'lin' or 'cos'",
    found: "'sin'",
  });
});
