// Issue 14 (the embedded-Postgres-as-root part): as root, from a copy of the project inside a private
// `mktemp -d` (0700) folder, both `npm start` and `npm test` run their embedded Postgres (as the
// unprivileged `postgres` user) without changing the permissions of any folder the project does not own.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { lstatSync, readlinkSync, statSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { RUNTIME_ROOT } from "../service/postgres-runtime.ts";
import { freePort } from "./helpers/free-port.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const notRoot = process.getuid?.() !== 0 ? "needs root: the postgres-user path only runs as root" : false;
let box = "";
after(async () => {
  if (box !== "") await rm(box, { recursive: true, force: true });
});

/** The private folder with a copy of the project (node_modules hard-linked: same files, private path). */
async function privateCopy(): Promise<string> {
  if (box === "") {
    box = await mkdtemp(path.join(tmpdir(), "rj-private-"));
    await chmod(box, 0o700);
    const project = path.join(box, "project");
    const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" })
      .split("\0").filter((f) => f !== "" && statSafe(path.join(ROOT, f)));
    execFileSync("mkdir", ["-p", project]);
    for (let i = 0; i < files.length; i += 200) {
      execFileSync("cp", ["--parents", "-t", project, ...files.slice(i, i + 200)], { cwd: ROOT });
    }
    execFileSync("cp", ["-al", path.join(ROOT, "node_modules"), path.join(project, "node_modules")]);
  }
  return path.join(box, "project");
}

function statSafe(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Modes of every folder from `dir` up to /, to show nothing outside the project was opened up. */
function modesUpFrom(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (let d = dir; ; d = path.dirname(d)) {
    out[d] = statSync(d).mode & 0o7777;
    if (path.dirname(d) === d) return out;
  }
}

function runUntil(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, done: RegExp, timeoutMs: number) {
  // NODE_TEST_CONTEXT would make an inner `node --test` talk to us instead of printing TAP.
  const { NODE_TEST_CONTEXT: _, ...ours } = process.env;
  const child = spawn(cmd, args, { cwd, env: { ...ours, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const reached = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${done}:\n${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d;
      if (done.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (done.test(out)) resolve(out);
      else reject(new Error(`exited (${code}) before ${done}:\n${out}`));
    });
  });
  return { child, reached, output: () => out };
}

test("as root, npm start runs Postgres from a project in a 0700 mktemp -d without opening any folder", { skip: notRoot, timeout: 120_000 }, async () => {
  const project = await privateCopy();
  const before = modesUpFrom(project);
  assert.equal(before[box], 0o700);
  const env = { DATABASE_URL: "", DATA_DIR: path.join(project, ".data"), PG_PORT: String(await freePort()), PORT: String(await freePort()), WORKERS: "0" };
  const svc = runUntil(process.execPath, ["--import", "tsx", "service/main.ts"], project, env, /service running/, 90_000);
  try {
    const out = await svc.reached;
    assert.match(out, /is private .* so the cluster lives in \/var\/lib\/resnet-jobs\/clusters\//);
    const res = await fetch(`http://127.0.0.1:${env.PORT}/healthz`);
    assert.equal(res.status, 200);
    const link = path.join(env.DATA_DIR, "postgres");
    assert.ok(lstatSync(link).isSymbolicLink(), "DATA_DIR/postgres points at where the cluster lives");
    assert.ok(readlinkSync(link).startsWith(`${RUNTIME_ROOT}/clusters/`));
    const ps = execFileSync("ps", ["-eo", "user:20,args"], { encoding: "utf8" }).split("\n")
      .filter((l) => l.includes(readlinkSync(link)));
    assert.ok(ps.some((l) => l.startsWith("postgres ") && l.includes(`${RUNTIME_ROOT}/postgres-`)), ps.join("\n"));
    assert.deepEqual(modesUpFrom(project), before, "no folder's mode changed");
  } finally {
    const exited = new Promise((r) => svc.child.once("exit", r));
    svc.child.kill("SIGINT");
    await exited;
  }
  // Its cluster is dropped with the copy: remove it from the shared place too.
  await rm(readlinkSync(path.join(env.DATA_DIR, "postgres")), { recursive: true, force: true });
});

test("as root, npm test runs its embedded Postgres from a project in a 0700 mktemp -d", { skip: notRoot, timeout: 240_000 }, async () => {
  const project = await privateCopy();
  const before = modesUpFrom(project);
  // TMPDIR inside the private folder too: the runner's temp cluster dir is then private as well.
  const tmp = path.join(box, "tmp");
  execFileSync("mkdir", ["-m", "700", "-p", tmp]);
  const run = runUntil(process.execPath, ["--import", "tsx", "test/run-all.ts", "worker/data/tar.test.ts"], project, { DATABASE_URL: "", TMPDIR: tmp }, /\d+ passed, \d+ failed/, 200_000);
  const out = await run.reached;
  await new Promise((r) => run.child.exitCode !== null ? r(null) : run.child.once("exit", r));
  assert.match(out, /embedded Postgres on port \d+/);
  assert.match(out, /[1-9]\d* passed, 0 failed/, out);
  assert.equal(run.child.exitCode, 0, out);
  assert.deepEqual(modesUpFrom(project), before, "no folder's mode changed");
});
