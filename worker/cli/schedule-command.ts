/**
 * The pure part of `npm run schedule` (see `schedule.ts`): reading the command line and producing the
 * output text, with no process I/O, so it can be tested in-process.
 */
import { parseArgs } from "node:util";
import { lastEpoch } from "../../shared/schedule/evaluate-schedule.ts";
import { parseSchedule } from "../../shared/schedule/parse-schedule.ts";
import type { Schedule } from "../../shared/schedule/schedule.ts";
import { scheduleJsonSchema } from "../../shared/schedule/schedule-json.ts";
import {
  type ScheduleRow,
  scheduleRows,
  type WeightDecaySource,
} from "../../shared/schedule/schedule-rows.ts";
import { ScheduleSyntaxError } from "../../shared/schedule/schedule-syntax-error.ts";

export const SCHEDULE_USAGE =
  `usage: npm run schedule -- '<expr>' --steps-per-epoch N [--format csv|json] [--wd]
                            [--lambda L | --wd-schedule '<expr>']
  <expr>               e.g. '[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]'
                       or the JSON form '[{"epoch":0,"value":1e-3},{"shape":"cos","epoch":24,"value":1e-5}]'
  --steps-per-epoch N  update steps per epoch (the seed: 40000 images / batch 64 = 625)
  --format csv|json    csv (default): iteration,epoch,lr; json: an array of {iteration, epoch, lr}
  --wd                 add the per-step weight decay column wd (coupled: lr·lambda)
  --lambda L           lambda for the coupled weight decay (default 0.15; implies --wd)
  --wd-schedule EXPR   take wd from this schedule instead of lr·lambda (implies --wd)`;

/** A problem with the command line: reported with the usage, exit status 2. */
export class ScheduleUsageError extends Error {
  override name = "ScheduleUsageError";
}

/** What the command line asks for. */
export interface ScheduleCommand {
  schedule: Schedule;
  stepsPerEpoch: number;
  format: "csv" | "json";
  weightDecay: WeightDecaySource | undefined;
}

/**
 * Reads the arguments after `npm run schedule --`.
 *
 * @throws {ScheduleUsageError} with a message that says what is wrong and what was given.
 *
 * @example
 * ```ts
 * parseScheduleCommand(["[1e-3, 0]cos[1e-5, 24]", "--steps-per-epoch", "625"]);
 * // { schedule: {…}, stepsPerEpoch: 625, format: "csv", weightDecay: undefined }
 * ```
 */
export function parseScheduleCommand(argv: string[]): ScheduleCommand | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        "steps-per-epoch": { type: "string" },
        format: { type: "string", default: "csv" },
        wd: { type: "boolean", default: false },
        lambda: { type: "string" },
        "wd-schedule": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new ScheduleUsageError(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  if (positionals.length !== 1) {
    throw new ScheduleUsageError(`expected one schedule expression, got ${positionals.length}`);
  }
  const stepsText = values["steps-per-epoch"];
  if (stepsText === undefined) throw new ScheduleUsageError("--steps-per-epoch N is required");
  const stepsPerEpoch = Number(stepsText);
  if (!/^[1-9][0-9]*$/.test(stepsText.trim()) || stepsPerEpoch > 1_000_000) {
    throw new ScheduleUsageError(
      `--steps-per-epoch must be an integer from 1 to 1000000, got '${stepsText}'`,
    );
  }
  if (values.format !== "csv" && values.format !== "json") {
    throw new ScheduleUsageError(`--format must be csv or json, got '${values.format}'`);
  }
  const schedule = readSchedule(positionals[0]!, undefined);
  let weightDecay: WeightDecaySource | undefined;
  if (values.lambda !== undefined && values["wd-schedule"] !== undefined) {
    throw new ScheduleUsageError("give either --lambda or --wd-schedule, not both");
  }
  if (values["wd-schedule"] !== undefined) {
    const wd = readSchedule(values["wd-schedule"], "--wd-schedule");
    if (lastEpoch(wd) !== lastEpoch(schedule)) {
      throw new ScheduleUsageError(
        `--wd-schedule must end at the schedule's last epoch ${lastEpoch(schedule)}, got ${lastEpoch(wd)}`,
      );
    }
    weightDecay = { schedule: wd };
  } else if (values.wd || values.lambda !== undefined) {
    const lambda = Number(values.lambda ?? "0.15");
    if (
      values.lambda !== undefined && (values.lambda.trim() === "" || !Number.isFinite(lambda) || lambda < 0)
    ) {
      throw new ScheduleUsageError(`--lambda must be a finite number ≥ 0, got '${values.lambda}'`);
    }
    weightDecay = { lambda };
  }
  return { schedule, stepsPerEpoch, format: values.format, weightDecay };
}

/** The seed's text, or the JSON form when the expression is a JSON array of objects. */
function readSchedule(expression: string, option: string | undefined): Schedule {
  const what = option ?? "the schedule";
  if (/^\s*\[\s*\{/.test(expression)) {
    let json: unknown;
    try {
      json = JSON.parse(expression);
    } catch (e) {
      throw new ScheduleUsageError(
        `${what} looks like JSON but is not: ${e instanceof Error ? e.message : e}`,
      );
    }
    const result = scheduleJsonSchema.safeParse(json);
    if (!result.success) {
      const issues = result.error.issues.map((i) => `  at [${i.path.join("][")}]: ${i.message}`);
      throw new ScheduleUsageError(`${what} is not a valid schedule:\n${issues.join("\n")}`);
    }
    return result.data;
  }
  try {
    return parseSchedule(expression);
  } catch (e) {
    if (!(e instanceof ScheduleSyntaxError)) throw e;
    // Point at the offset under the expression, so the problem is visible at a glance.
    const caret = " ".repeat(e.offset) + "^";
    const where = option === undefined ? "" : `${option}: `;
    throw new ScheduleUsageError(
      `${where}${e.message}\n  ${expression.replace(/[\t\r\n]/g, " ")}\n  ${caret}`,
    );
  }
}

/**
 * The command's output in chunks of about 64 KiB (CSV with a header, or a JSON array with one row per
 * line), lazily, so a long schedule never sits in memory whole.
 */
export function* scheduleOutput(command: ScheduleCommand): Generator<string, void, undefined> {
  const header = command.format === "csv"
    ? `iteration,epoch,lr${command.weightDecay === undefined ? "" : ",wd"}\n`
    : "[";
  let chunk = header;
  let first = true;
  for (const row of scheduleRows(command.schedule, command.stepsPerEpoch, command.weightDecay)) {
    if (command.format === "json") chunk += first ? "\n" : ",\n";
    chunk += formatRow(row, command.format);
    if (command.format === "csv") chunk += "\n";
    first = false;
    if (chunk.length > 1 << 16) {
      yield chunk;
      chunk = "";
    }
  }
  if (command.format === "json") chunk += "\n]\n";
  yield chunk;
}

function formatRow(row: ScheduleRow, format: "csv" | "json"): string {
  if (format === "json") return JSON.stringify(row); // JSON numbers are the shortest round-trip form too
  return row.wd === undefined
    ? `${row.iteration},${row.epoch},${row.lr}`
    : `${row.iteration},${row.epoch},${row.lr},${row.wd}`;
}
