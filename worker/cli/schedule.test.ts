import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

import { parseScheduleCommand, scheduleOutput, ScheduleUsageError } from "./schedule-command.ts";

const CLI = fileURLToPath(new URL("./schedule.ts", import.meta.url));
const EXAMPLE = "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]";

/** Runs the CLI as `npm run schedule` does (node --import tsx), as a real process. */
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", CLI, ...args],
      { maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// Expected values: the design's formula computed independently in float64 (Python, t = i / 625).
test("schedule CLI prints 21250 CSV rows for the design's example at 625 steps per epoch", async () => {
  const { code, stdout, stderr } = await run([EXAMPLE, "--steps-per-epoch", "625"]);
  assert.equal(code, 0, stderr);
  const lines = stdout.trimEnd().split("\n");
  assert.equal(lines[0], "iteration,epoch,lr");
  const rows = lines.slice(1).map((line) => line.split(",").map(Number) as [number, number, number]);
  assert.equal(rows.length, 21250);
  rows.forEach(([iteration, epoch], i) => {
    assert.equal(iteration, i);
    assert.equal(epoch, i / 625);
  });
  const lr = (i: number) => rows[i]![2];
  assert.equal(lr(0), 1e-3);
  assert.equal(lr(8750), 1e-3); // epoch 14: the knot itself
  assert.equal(lr(9000), 0.000998046461143989); // epoch 14.4, cosine
  assert.equal(lr(11875), 0.0007100357133746822); // epoch 19: 1e-5 + (1e-3 - 1e-5)·cos(π/4)
  assert.equal(lr(14999), 1.0248814135544842e-5);
  assert.equal(lr(15000), 1e-5); // epoch 24: the knot itself
  assert.equal(lr(15001), 9.99936e-6); // linear
  assert.equal(lr(18125), 8.000000000000001e-6); // epoch 29
  assert.equal(lr(21249), 6.000640000000002e-6); // the last iteration
  assert.equal(lines[11876], "11875,19,0.0007100357133746822");
});

test("schedule CLI prints a JSON array with --format json, and the weight decay with --wd", async () => {
  const { code, stdout, stderr } = await run([
    "[1e-3, 0]cos[0, 2]",
    "--steps-per-epoch",
    "2",
    "--format",
    "json",
    "--wd",
  ]);
  assert.equal(code, 0, stderr);
  const rows = JSON.parse(stdout) as { iteration: number; epoch: number; lr: number; wd: number }[];
  assert.deepEqual(rows.map((r) => [r.iteration, r.epoch]), [[0, 0], [1, 0.5], [2, 1], [3, 1.5]]);
  assert.equal(rows[0]!.lr, 1e-3);
  assert.equal(rows[2]!.lr, 0.0007071067811865476); // cos(π/4)·1e-3
  for (const row of rows) assert.equal(row.wd, row.lr * 0.15);
});

test("schedule CLI takes a separate weight-decay schedule in the JSON form", async () => {
  const wd = JSON.stringify([{ epoch: 0, value: 1e-4 }, { shape: "lin", epoch: 1, value: 0 }]);
  const { code, stdout } = await run([
    "[1e-3, 0]lin[1e-3, 1]",
    "--steps-per-epoch",
    "4",
    "--wd-schedule",
    wd,
  ]);
  assert.equal(code, 0);
  assert.deepEqual(stdout.trimEnd().split("\n"), [
    "iteration,epoch,lr,wd",
    "0,0,0.001,0.0001",
    "1,0.25,0.001,0.00007500000000000001",
    "2,0.5,0.001,0.00005",
    "3,0.75,0.001,0.000024999999999999998",
  ]);
});

test("schedule CLI exits 2 with the message on stderr and nothing on stdout for bad arguments", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["[1.e-3, 0]sin[1.e-5, 24]", "--steps-per-epoch", "625"],
      /expected 'lin' or 'cos' at offset 10, found 'sin'\n.*\n {12}\^/,
    ],
    [[EXAMPLE, "--steps-per-epoch", "625", "--learning-rate"], /Unknown option '--learning-rate'/],
  ];
  await Promise.all(cases.map(async ([args, message]) => {
    const { code, stdout, stderr } = await run(args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.equal(stdout, "");
    assert.match(stderr, message);
    assert.match(stderr, /usage: npm run schedule/);
  }));
});

// The rest of the argument rules in-process: a process per case would cost a second each.
test("parseScheduleCommand() rejects bad arguments with a clear message", () => {
  const cases: [string[], RegExp][] = [
    [[EXAMPLE], /--steps-per-epoch N is required/],
    [[EXAMPLE, "--steps-per-epoch", "62.5"], /integer from 1 to 1000000, got '62.5'/],
    [[EXAMPLE, "--steps-per-epoch", "0"], /integer from 1 to 1000000, got '0'/],
    [[EXAMPLE, "--steps-per-epoch", "1e3"], /got '1e3'/],
    [[EXAMPLE, "--steps-per-epoch", "625", "--format", "xml"], /--format must be csv or json, got 'xml'/],
    [[EXAMPLE, "--steps-per-epoch"], /argument missing/],
    [["--steps-per-epoch", "625"], /expected one schedule expression, got 0/],
    [[EXAMPLE, EXAMPLE, "--steps-per-epoch", "625"], /expected one schedule expression, got 2/],
    [[EXAMPLE, "--steps-per-epoch", "625", "--lambda=-1"], /--lambda must be a finite number ≥ 0, got '-1'/],
    [[EXAMPLE, "--steps-per-epoch", "625", "--lambda", "x"], /--lambda must be a finite number ≥ 0, got 'x'/],
    [
      [EXAMPLE, "--steps-per-epoch", "625", "--lambda", "0.1", "--wd-schedule", EXAMPLE],
      /either --lambda or --wd-schedule/,
    ],
    [[EXAMPLE, "--steps-per-epoch", "625", "--wd-schedule", "[1e-4, 0]lin[0, 30]"], /last epoch 34, got 30/],
    [
      [EXAMPLE, "--steps-per-epoch", "625", "--wd-schedule", "[1e-4, 0]lin[0 34]"],
      /^--wd-schedule: Cannot parse schedule: expected ','/,
    ],
    [['[{"epoch": 0, "value": 1e-3}]', "--steps-per-epoch", "625"], /at least 2 knots/],
    [['[{"epoch": 0, "value": 1e-3},]', "--steps-per-epoch", "625"], /looks like JSON but is not/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseScheduleCommand(args), (e: unknown) => {
      assert.ok(e instanceof ScheduleUsageError, `${args.join(" ")}: ${e}`);
      assert.match(e.message, message, args.join(" "));
      return true;
    });
  }
});

test("parseScheduleCommand() reads the options and scheduleOutput() writes CSV and JSON", () => {
  assert.equal(parseScheduleCommand(["--help"]), "help");
  const command = parseScheduleCommand(["[1e-3, 0]lin[0, 1]", "--steps-per-epoch=2", "--lambda", "0.5"]);
  assert.ok(command !== "help");
  assert.deepEqual(command.weightDecay, { lambda: 0.5 });
  assert.equal(
    [...scheduleOutput(command)].join(""),
    "iteration,epoch,lr,wd\n0,0,0.001,0.0005\n1,0.5,0.0005,0.00025\n",
  );
  const json = parseScheduleCommand(["[1e-3, 0]lin[0, 1]", "--steps-per-epoch", "2", "--format", "json"]);
  assert.ok(json !== "help");
  assert.deepEqual(JSON.parse([...scheduleOutput(json)].join("")), [
    { iteration: 0, epoch: 0, lr: 0.001 },
    { iteration: 1, epoch: 0.5, lr: 0.0005 },
  ]);
  // Large outputs come in bounded chunks, all rows accounted for.
  const big = parseScheduleCommand(["[1e-3, 0]cos[0, 100]", "--steps-per-epoch", "1000"]);
  assert.ok(big !== "help");
  let rows = -1;
  for (const chunk of scheduleOutput(big)) {
    assert.ok(chunk.length < (1 << 16) + 200);
    rows += chunk.split("\n").length - 1;
  }
  assert.equal(rows, 100_000);
});
