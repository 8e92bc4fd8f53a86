/**
 * The run spec: what one training run is, as the API accepts it, the database stores it (JSONB) and the
 * worker and `npm run train` read it. One zod schema holds every field, its default (the seed's recipe:
 * ResNet56v2, batch 64, shift 0.07, flips, a stratified 10000-image validation split, AdamW with α = the
 * schedule's peak, λ 0.15, β1 0.9, β2 0.999, ε 1e-7, threshold 0.92) and every rule.
 *
 * Only `schedule` is required. Objects are strict (a typo such as `learningRate` is an error). The parsed
 * output is fully defaulted, holds the schedules as canonical text, and is itself a valid input that
 * parses to the same output, so a stored spec can be validated again anywhere.
 *
 * @example
 * ```ts
 * const result = parseRunSpec({ schedule: "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]" });
 * if (result.ok) {
 *   result.spec.schedule;           // "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]"
 *   result.spec.optimizer.alpha;    // 0.001 (the schedule's peak)
 *   specEpochs(result.spec);        // 34
 *   specStepsPerEpoch(result.spec); // 625 (40000 training images / batch 64)
 * } else {
 *   result.issues; // [{ path: "optimizer.lambda", message: "expected a number ≥ 0, found -1" }, …]
 * }
 * ```
 */
import type { Issue } from "./issue.ts";
import { z } from "zod";
import { lastEpoch, peakValue } from "./schedule/evaluate-schedule.ts";
import { formatSchedule, formatScheduleNumber } from "./schedule/format-schedule.ts";
import { parseSchedule } from "./schedule/parse-schedule.ts";
import type { Schedule } from "./schedule/schedule.ts";
import { scheduleFromJson, scheduleJsonShapeSchema } from "./schedule/schedule-json.ts";
import { ScheduleSyntaxError } from "./schedule/schedule-syntax-error.ts";

/** CIFAR-10's fixed sizes: 50000 training and 10000 test images of 32×32×3. */
const CIFAR10 = { trainSize: 50_000, testSize: 10_000, imageSize: 32 } as const;
/** The real data sets' sizes: Fashion-MNIST has 60000 + 10000 grey 28×28 images (padded to 32×32). */
const REAL_SETS = {
  cifar10: CIFAR10,
  "fashion-mnist": { trainSize: 60_000, testSize: 10_000, imageSize: 28 },
} as const;
/** The seed's validation split on a whole real set: 10000 images. */
const REAL_DEFAULT_VALIDATION_SIZE = 10_000;
/** A synthetic data set of the default size has CIFAR-10's shape. */
const SYNTHETIC_DEFAULT_TRAIN_SIZE = 50_000;
/** The synthetic set's validation / test size defaults to CIFAR-10's ratio, 10000 / 50000. */
const fifthOf = (trainSize: number) => Math.max(1, Math.round(trainSize / 5));

/** How an input value reads in a message: short, and unambiguous about its type. */
function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") {
    const text = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    return value.length > 40 ? `${text} (${value.length} characters)` : text;
  }
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null || typeof value !== "object") return String(value);
  return "an object";
}

/** Every failure of a field reports the same rule, with the value found. */
const rule = (expected: string) => ({
  error: (issue: { input?: unknown }) => `expected ${expected}, found ${show(issue.input)}`,
});

function integer(min: number, max: number, expected = `an integer from ${min} to ${max}`) {
  const r = rule(expected);
  return z.int(r).min(min, r).max(max, r);
}

/** A finite number in a range; `exclusiveMax`/`exclusiveMin` for the half-open rules (shift < 0.5). */
function number(
  bounds: { min?: number; exclusiveMin?: number; max?: number; exclusiveMax?: number },
  expected: string,
) {
  const r = rule(expected);
  let schema = z.number(r);
  if (bounds.min !== undefined) schema = schema.min(bounds.min, r);
  if (bounds.exclusiveMin !== undefined) schema = schema.gt(bounds.exclusiveMin, r);
  if (bounds.max !== undefined) schema = schema.max(bounds.max, r);
  if (bounds.exclusiveMax !== undefined) schema = schema.lt(bounds.exclusiveMax, r);
  return schema;
}

const boolean = () => z.boolean(rule("true or false"));

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, rule(values.map((v) => `'${v}'`).join(" or ")));
}

/** The keys each strict object allows, by dotted path, for the unknown-field messages. */
const ALLOWED_KEYS: Record<string, readonly string[]> = {};

function unknownFieldMessage(key: string, allowed: readonly string[]): string {
  // Suggest only close misspellings of longer keys: "lr" is not a typo of "l2".
  const limit = key.length >= 8 ? 2 : key.length >= 4 ? 1 : 0;
  const near = allowed.find((a) => a.toLowerCase() === key.toLowerCase()) ??
    allowed.find((a) => editDistance(a.toLowerCase(), key.toLowerCase()) <= limit);
  return near !== undefined
    ? `unknown field '${key}': did you mean '${near}'?`
    : `unknown field '${key}' (allowed: ${allowed.join(", ")})`;
}

/** A strict object whose unknown-key error names each key and, when one is close, the key meant. */
function strictObject<T extends z.ZodRawShape>(path: string, shape: T) {
  const allowed = Object.keys(shape);
  ALLOWED_KEYS[path] = allowed;
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === "unrecognized_keys") {
        return issue.keys.map((k) => unknownFieldMessage(k, allowed)).join("; ");
      }
      if (issue.code === "invalid_type") return `expected an object, found ${show(issue.input)}`;
      return undefined;
    },
  });
}

/** Edits (insert, delete, substitute, swap two neighbours) between a and b: "depht" → "depth" is 1. */
function editDistance(a: string, b: string): number {
  const d = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i + j),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * A schedule field: the seed's text or the structured JSON form (an array of knots, see
 * `shared/schedule/schedule-json.ts`), validated by the schedule language and normalized to its
 * canonical text, so equal schedules are equal strings in the database. A syntax error becomes an
 * issue at the field whose message has the offset (and `params` carry offset, expected and found).
 */
function scheduleField() {
  return z
    .union([z.string(), scheduleJsonShapeSchema], {
      error: (issue) =>
        `expected schedule text such as "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]" or an array of knots ` +
        `such as [{"epoch": 0, "value": 1e-3}, {"shape": "cos", "epoch": 24, "value": 1e-5}], found ${
          show(issue.input)
        }`,
    })
    .transform((input, ctx) => {
      let schedule: Schedule | undefined;
      if (typeof input === "string") {
        try {
          schedule = parseSchedule(input);
        } catch (e) {
          if (!(e instanceof ScheduleSyntaxError)) throw e;
          ctx.issues.push({
            code: "custom",
            input,
            message: e.message,
            params: { offset: e.offset, expected: e.expected, found: e.found },
          });
        }
      } else {
        schedule = scheduleFromJson(input, ({ path, message }) => {
          ctx.issues.push({ code: "custom", input, path, message });
        });
      }
      return schedule === undefined ? z.NEVER : formatSchedule(schedule);
    });
}

const modelSchema = strictObject("model", {
  /** ResNet v2 depth 9n + 2 (n bottleneck units per stack, 3 stacks): 56 is the seed's ResNet56v2. */
  depth: integer(11, 1001, "a depth 9n+2 from 11 to 1001 (11, 20, 29, 38, 47, 56, …, 110, …)")
    .refine((d) => (d - 2) % 9 === 0, rule("a depth 9n+2 for a whole n ≥ 1 (…, 47, 56, 65, …, 110, …)"))
    .default(56),
  /** Kernel size of the strided 1st-unit shortcut convolution: 1 (Atienza) or 3 (the seed's wish). */
  shortcutKernel: z.literal([1, 3], rule("1 or 3")).default(1),
  /**
   * `atienza`: the first unit of a new stack keeps the previous stack's maps. `extreme` (the seed's
   * wish): it halves them, and the stack's output has 4× its bottleneck maps.
   */
  bottleneck: oneOf(["atienza", "extreme"]).default("atienza"),
  /** Between the core ResNet and the dense classifier: global average pooling (Atienza) or flatten. */
  head: oneOf(["avgpool", "flatten"]).default("avgpool"),
});

const dataFields = strictObject("data", {
  /**
   * `cifar10` (CIFAR10_DIR) and `fashion-mnist` (FASHION_MNIST_DIR, else Debian's package) are real and
   * fetched on first use; `synthetic` generates a learnable stand-in.
   */
  dataset: oneOf(["cifar10", "fashion-mnist", "synthetic"]).default("cifar10"),
  /** `split`: validate on images held out of the training set (the seed); `test`: on the test set. */
  validation: oneOf(["split", "test"]).default("split"),
  /**
   * Images held out for validation with `split` (the seed: 10000 of a whole real set; with trainSize,
   * and for synthetic, a fifth of trainSize).
   * With `test` it is not set: the output then holds the test set's size.
   */
  validationSize: integer(1, 100_000).optional(),
  /** Hold out the same share of every class (the seed does). */
  stratified: boolean().default(true),
  /** Seeds the validation split, the shuffles, the augmentation and the initial weights. */
  seed: integer(0, 4_294_967_295).default(1),
  /** Random translation, as a fraction of the image size (Keras width/height_shift_range). */
  shift: number({ min: 0, exclusiveMax: 0.5 }, "a number ≥ 0 and < 0.5 (a fraction of the image size)")
    .default(0.07),
  /** Random horizontal flips. */
  flip: boolean().default(true),
  /**
   * Training images before the validation split: a seeded subset (stratified when `stratified`) of a
   * real set's training images for quick runs (default: all), or the synthetic set's size (50000).
   */
  trainSize: integer(2, 100_000).optional(),
  /** Synthetic only: images are imageSize × imageSize × 3 (default 32, CIFAR-10's). */
  imageSize: integer(8, 64).optional(),
});

const dataSchema = dataFields.transform((data, ctx) => {
  const { trainSize, imageSize, validationSize, ...common } = data;
  const issue = (path: string, message: string, input: unknown) =>
    ctx.issues.push({ code: "custom", path: [path], message, input });
  const real = data.dataset === "synthetic" ? null : REAL_SETS[data.dataset];
  if (real !== null) {
    if (trainSize !== undefined && trainSize > real.trainSize) {
      issue(
        "trainSize",
        `expected at most ${real.trainSize} (${data.dataset}'s training images), found ${trainSize}`,
        trainSize,
      );
    }
    if (imageSize !== undefined) {
      const padded = real.imageSize === 32 ? "" : ", zero-padded to 32×32";
      issue(
        "imageSize",
        `expected no imageSize for ${data.dataset} (its images are ${real.imageSize}×${real.imageSize}${padded}; imageSize is for 'synthetic'), found ${imageSize}`,
        imageSize,
      );
    }
  }
  const poolSize = real !== null ? Math.min(trainSize ?? real.trainSize, real.trainSize) : trainSize ?? SYNTHETIC_DEFAULT_TRAIN_SIZE;
  const heldOut = real !== null ? real.testSize : fifthOf(poolSize);
  const defaultSplit = real !== null && trainSize === undefined ? REAL_DEFAULT_VALIDATION_SIZE : fifthOf(poolSize);
  // The test set's own size is accepted so that a parsed spec (which states it) parses again.
  if (data.validation === "test" && validationSize !== undefined && validationSize !== heldOut) {
    issue(
      "validationSize",
      `expected no validationSize with validation 'test' (the test set has ${heldOut} images; ` +
        `use 'split' to choose a size), found ${validationSize}`,
      validationSize,
    );
  }
  if (data.validation === "split" && validationSize !== undefined && validationSize >= poolSize) {
    issue(
      "validationSize",
      `expected fewer than the ${poolSize} training images it is split from, found ${validationSize}`,
      validationSize,
    );
  }
  if (ctx.issues.length > 0) return z.NEVER;
  // Built field by field so the stored JSON reads in the documented order.
  const { validation, stratified, seed, shift, flip } = common;
  const defaulted = {
    validation,
    validationSize: validationSize ?? (validation === "test" ? heldOut : defaultSplit),
    stratified,
    seed,
    shift,
    flip,
  };
  // A real set's spec states trainSize only when it was given, so specs stored before it existed keep
  // their form (and their checkpoints' fingerprints).
  if (data.dataset !== "synthetic") {
    return { dataset: data.dataset, ...defaulted, ...(trainSize !== undefined ? { trainSize } : {}) };
  }
  return {
    dataset: "synthetic" as const,
    ...defaulted,
    trainSize: poolSize,
    imageSize: imageSize ?? CIFAR10.imageSize,
  };
});

const optimizerSchema = strictObject("optimizer", {
  /**
   * The seed's α, the initial/peak LR. The LR itself always comes from `schedule`, so α is the
   * schedule's peak value (which it is in every row of the seed's tables): omit it, or give that value.
   */
  alpha: number({ exclusiveMin: 0 }, "a finite number > 0").optional(),
  /** Keras AdamW `weight_decay`: every step, w ← w − lr(i)·λ·w (unused when `wdSchedule` is set). */
  lambda: number({ min: 0 }, "a finite number ≥ 0").default(0.15),
  /** L2 regularization factor added to the loss (the seed's runs use 0: pure weight decay). */
  l2: number({ min: 0 }, "a finite number ≥ 0").default(0),
  beta1: number({ min: 0, exclusiveMax: 1 }, "a number ≥ 0 and < 1").default(0.9),
  beta2: number({ min: 0, exclusiveMax: 1 }, "a number ≥ 0 and < 1").default(0.999),
  epsilon: number({ exclusiveMin: 0 }, "a finite number > 0").default(1e-7),
});

const runSpecFields = strictObject("", {
  /** A label for people; not unique. */
  name: z.string(rule("a string")).trim().min(1, rule("a name of 1 to 200 characters"))
    .max(200, rule("a name of 1 to 200 characters")).optional(),
  /** Higher runs first among queued runs. */
  priority: integer(-1000, 1000).default(0),
  /** Free labels to find runs by (`GET /v1/runs?tag=…`, SQL); unique, at most 32 of 1 to 64 characters. */
  tags: z.array(
    z.string(rule("a tag string")).trim().min(1, rule("a tag of 1 to 64 characters"))
      .max(64, rule("a tag of 1 to 64 characters")),
    rule("an array of tags"),
  ).max(32, rule("at most 32 tags")).superRefine((tags, ctx) => {
    tags.forEach((tag, i) => {
      if (tags.indexOf(tag) !== i) {
        ctx.addIssue({
          code: "custom",
          path: [i],
          input: tag,
          message: `expected distinct tags, found ${show(tag)} again`,
        });
      }
    });
  }).default([]),
  /** How many times a run may be started (a worker that dies mid-run costs one attempt). */
  maxAttempts: integer(1, 10).default(3),
  // prefault: an absent object is parsed as {}, so its defaults live in one place, the fields.
  model: modelSchema.prefault({}),
  data: dataSchema.prefault({}),
  optimizer: optimizerSchema.prefault({}),
  batchSize: integer(1, 4096).default(64),
  /** The LR schedule; its last epoch is the run's number of epochs. Required. */
  schedule: scheduleField(),
  /**
   * A separate weight-decay schedule whose value is the per-step decay d itself (w ← w − d·w), instead
   * of the coupled lr(i)·λ. It must end at the LR schedule's last epoch, and its values must be < 1.
   */
  wdSchedule: scheduleField().optional(),
  /** The val_acc a run must reach; its first epoch at or above it is the seed's "epoch" column. */
  threshold: number({ exclusiveMin: 0, max: 1 }, "a number > 0 and ≤ 1").default(0.92),
});

/**
 * The run spec schema. Its input is {@link RunSpecInput}, its output {@link RunSpec}. Prefer
 * {@link parseRunSpec}, which turns issues into `{ path, message }` pairs.
 */
export const runSpecSchema = runSpecFields.transform((spec, ctx) => {
  const lr = parseSchedule(spec.schedule);
  const peak = peakValue(lr);
  const issue = (path: (string | number)[], message: string, input: unknown) =>
    ctx.issues.push({ code: "custom", path, message, input });
  if (peak === 0) issue(["schedule"], `expected an LR above 0 somewhere, found only 0`, spec.schedule);
  const alpha = spec.optimizer.alpha ?? peak;
  if (spec.optimizer.alpha !== undefined && spec.optimizer.alpha !== peak) {
    issue(
      ["optimizer", "alpha"],
      `expected the schedule's peak LR ${formatScheduleNumber(peak)} (the schedule alone sets the LR; ` +
        `leave alpha out or change the schedule), found ${spec.optimizer.alpha}`,
      spec.optimizer.alpha,
    );
  }
  if (spec.wdSchedule === undefined) {
    if (peak * spec.optimizer.lambda >= 1) {
      issue(
        ["optimizer", "lambda"],
        `expected peak LR × lambda < 1 (a per-step decay of 1 or more wipes out the weights), ` +
          `found ${formatScheduleNumber(peak)} × ${spec.optimizer.lambda}`,
        spec.optimizer.lambda,
      );
    }
  } else {
    const wd = parseSchedule(spec.wdSchedule);
    if (lastEpoch(wd) !== lastEpoch(lr)) {
      issue(
        ["wdSchedule"],
        `expected the LR schedule's last epoch ${lastEpoch(lr)} as the last epoch, found ${lastEpoch(wd)}`,
        spec.wdSchedule,
      );
    }
    if (peakValue(wd) >= 1) {
      issue(
        ["wdSchedule"],
        `expected values < 1 (the value is the per-step decay; 1 wipes out the weights), found ${
          peakValue(wd)
        }`,
        spec.wdSchedule,
      );
    }
  }
  if (ctx.issues.length > 0) return z.NEVER;
  const { alpha: _given, ...optimizer } = spec.optimizer;
  return { ...spec, optimizer: { alpha, ...optimizer } };
});

/** What a client may send: only `schedule` is required. */
export type RunSpecInput = z.input<typeof runSpecSchema>;
/** A validated, fully defaulted run spec, schedules as canonical text (what the database stores). */
export type RunSpec = z.output<typeof runSpecSchema>;


/**
 * Validates and defaults a run spec. Never throws for bad input: problems come back as issues, one
 * per field and rule, ready for an API error body.
 *
 * @example
 * ```ts
 * parseRunSpec({ schedule: "[1e-3, 0]cos[1e-5, 30]", optimizer: { learningRate: 1e-3 } });
 * // { ok: false, issues: [{ path: "optimizer.learningRate",
 * //   message: "unknown field 'learningRate' (allowed: alpha, lambda, l2, beta1, beta2, epsilon)" }] }
 * ```
 */
export function parseRunSpec(
  input: unknown,
): { ok: true; spec: RunSpec } | { ok: false; issues: Issue[] } {
  const result = runSpecSchema.safeParse(input);
  if (result.success) return { ok: true, spec: result.data };
  return { ok: false, issues: result.error.issues.flatMap((issue) => toRunSpecIssues(issue, [])) };
}

type PathKey = PropertyKey;

function toRunSpecIssues(issue: z.core.$ZodIssue, prefix: readonly PathKey[]): Issue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === "invalid_union") {
    // A schedule field given as an array: report the array form's own problems at their paths.
    // Where every option failed on the type itself, the union's one message says what is accepted.
    const specific = issue.errors.find((errors) =>
      errors.some((e) => e.code !== "invalid_type" || e.path.length > 0)
    );
    if (specific !== undefined) return specific.flatMap((e) => toRunSpecIssues(e, path));
  }
  if (issue.code === "unrecognized_keys") {
    const allowed = allowedKeysAt(path);
    if (allowed !== undefined) {
      return issue.keys.map((key) => ({
        path: dotted([...path, key]),
        message: unknownFieldMessage(key, allowed),
      }));
    }
    return issue.keys.map((key) => ({ path: dotted([...path, key]), message: `unknown field '${key}'` }));
  }
  return [{ path: dotted(path), message: issue.message }];
}

function allowedKeysAt(path: readonly PathKey[]): readonly string[] | undefined {
  const text = dotted(path);
  if (/^(schedule|wdSchedule)\.\d+$/.test(text)) return ["shape", "epoch", "value"];
  return ALLOWED_KEYS[text];
}

const dotted = (path: readonly PathKey[]) => path.map(String).join(".");

/**
 * The run's number of epochs: the LR schedule's last epoch.
 *
 * @example
 * ```ts
 * specEpochs(spec); // 34 for "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]"
 * ```
 */
export function specEpochs(spec: RunSpec): number {
  return lastEpoch(parseSchedule(spec.schedule));
}

/**
 * The data set's training images before any validation split: `trainSize` when given, else 50000 for
 * cifar10 and 60000 for fashion-mnist. A `split` validation set is taken out of these.
 *
 * @example
 * ```ts
 * trainingPoolSize(spec); // 50000 (cifar10)
 * ```
 */
export function trainingPoolSize(spec: RunSpec): number {
  if (spec.data.dataset === "synthetic") return spec.data.trainSize;
  return spec.data.trainSize ?? REAL_SETS[spec.data.dataset].trainSize;
}

/**
 * The images a run trains on per epoch: the pool minus the validation split (the seed: 50000 − 10000 =
 * 40000), or the whole pool when it validates on the test set.
 *
 * @example
 * ```ts
 * trainingSetSize(spec); // 40000 with the defaults
 * ```
 */
export function trainingSetSize(spec: RunSpec): number {
  const pool = trainingPoolSize(spec);
  return spec.data.validation === "split" ? pool - spec.data.validationSize : pool;
}

/**
 * Update steps per epoch: ceil(training images / batch size), the last batch possibly smaller (as
 * Keras `fit` does). The schedule is evaluated at iteration / this.
 *
 * @example
 * ```ts
 * specStepsPerEpoch(spec); // 625 with the defaults (40000 / 64)
 * ```
 */
export function specStepsPerEpoch(spec: RunSpec): number {
  return Math.ceil(trainingSetSize(spec) / spec.batchSize);
}
