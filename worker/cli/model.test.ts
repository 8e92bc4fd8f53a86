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

test("npm run model -- --dataset fashion-mnist: 32×32×1 input, the stem conv takes 1 channel (288 fewer params)", () => {
  const r = run("--depth", "20", "--dataset", "fashion-mnist");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\ninput +InputLayer +\(32, 32, 1\) +0\n/);
  const cifar = run("--depth", "20");
  const params = (out: string) => Number(/\nparams: (\d+)\n/.exec(out)?.[1]);
  assert.equal(params(cifar.stdout) - params(r.stdout), 3 * 3 * 2 * 16);
  const bad = run("--dataset", "mnist");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--dataset must be cifar10 or fashion-mnist, got "mnist"/);
});

test("npm run model rejects a depth that is not 9n+2 with exit status 2 and the rule on stderr", () => {
  const r = run("--depth", "57");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /depth must be 9n\+2.*got 57\nusage: npm run model/);
});
