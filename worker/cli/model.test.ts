import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

const run = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "worker/cli/model.ts", ...args], { encoding: "utf8" });

test("npm run model -- --depth 56 prints the layer table and params: 1673738 / trainable: 1663338", () => {
  const r = run("--depth", "56");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^layer +type +output shape +params\n/);
  assert.match(r.stdout, /\nstage2\/unit5\/add +Add +\(8, 8, 256\) +0\n/);
  assert.match(r.stdout, /\nparams: 1673738\ntrainable: 1663338\nnon-trainable: 10400\n$/);
  assert.equal(r.stderr, "");
});

test("npm run model rejects a depth that is not 9n+2 with exit status 2 and the rule on stderr", () => {
  const r = run("--depth", "57");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /depth must be 9n\+2.*got 57\nusage: npm run model/);
});
