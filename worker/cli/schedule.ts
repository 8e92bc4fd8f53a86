/**
 * `npm run schedule -- '<expr>' --steps-per-epoch N [--format csv|json] [--wd] [--lambda L | --wd-schedule '<expr>']`
 *
 * Prints the LR of every training iteration 0 … lastEpoch·N − 1, exactly as a run applies it:
 * CSV `iteration,epoch,lr` (epoch = iteration / N), or a JSON array of {iteration, epoch, lr}. Numbers
 * are written in their shortest form that reads back as the same float64. `--wd` adds the per-step
 * weight decay `wd`: lr·λ (coupled, the seed's recipe; λ from `--lambda`, default 0.15) or the value of
 * `--wd-schedule`. The expression may be the seed's text or the structured JSON form.
 * Bad arguments print a message on stderr and exit with status 2.
 */
import {
  parseScheduleCommand,
  SCHEDULE_USAGE,
  type ScheduleCommand,
  scheduleOutput,
  ScheduleUsageError,
} from "./schedule-command.ts";

/** Writes the output, waiting for the pipe to drain so memory stays flat for long schedules. */
async function write(command: ScheduleCommand): Promise<void> {
  for (const chunk of scheduleOutput(command)) {
    await new Promise<void>((resolve, reject) => {
      process.stdout.write(chunk, (error) => (error ? reject(error) : resolve()));
    });
  }
}

async function main(argv: string[]): Promise<number> {
  let command: ScheduleCommand | "help";
  try {
    command = parseScheduleCommand(argv);
  } catch (e) {
    if (!(e instanceof ScheduleUsageError)) throw e;
    const synopsis = SCHEDULE_USAGE.split("\n").slice(0, 2).join("\n");
    process.stderr.write(`schedule: ${e.message}\n${synopsis}\n(--help explains the options)\n`);
    return 2;
  }
  if (command === "help") {
    process.stdout.write(`${SCHEDULE_USAGE}\n`);
    return 0;
  }
  try {
    await write(command);
  } catch (e) {
    // A closed pipe (`| head`) is the reader saying it has enough.
    if ((e as NodeJS.ErrnoException).code === "EPIPE") return 0;
    throw e;
  }
  return 0;
}

process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});
process.exitCode = await main(process.argv.slice(2));
