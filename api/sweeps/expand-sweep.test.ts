import assert from "node:assert/strict";
import fc from "fast-check";
import { sweepRequestSchema } from "../../shared/api-schemas.ts";
import { expandSweep } from "./expand-sweep.ts";

const BASE = { schedule: "[1e-3, 0]lin[1e-3, 14]cos[1e-5, 24]lin[6e-6, 34]" };
const request = (body: unknown) => sweepRequestSchema.parse(body);

Deno.test("expandSweep() takes the cross product, first grid path slowest, every value reaching its dotted path", () => {
  const result = expandSweep(request({
    name: "wd",
    base: BASE,
    grid: { "optimizer.lambda": [0.1, 0.2], schedule: ["[1e-3, 0]cos[1e-5, 30]", "[8e-4, 0]lin[1e-5, 20]"] },
  }));
  assert.ok(result.ok);
  assert.deepEqual(
    result.specs.map((s) => [s.name, s.optimizer.lambda, s.schedule]),
    [
      ["wd #1", 0.1, "[1e-3, 0]cos[1e-5, 30]"],
      ["wd #2", 0.1, "[8e-4, 0]lin[1e-5, 20]"],
      ["wd #3", 0.2, "[1e-3, 0]cos[1e-5, 30]"],
      ["wd #4", 0.2, "[8e-4, 0]lin[1e-5, 20]"],
    ],
  );
  // Each spec is fully defaulted, including what the grid changed (alpha follows the schedule's peak).
  assert.deepEqual(result.specs.map((s) => s.optimizer.alpha), [1e-3, 8e-4, 1e-3, 8e-4]);
});

Deno.test("expandSweep() repeats each grid point with data.seed raised by 0, 1, …", () => {
  const result = expandSweep(
    request({ base: { ...BASE, data: { seed: 7 } }, grid: { "optimizer.lambda": [0.1, 0.3] }, repeat: 3 }),
  );
  assert.ok(result.ok);
  assert.deepEqual(result.specs.map((s) => [s.optimizer.lambda, s.data.seed]), [
    [0.1, 7],
    [0.1, 8],
    [0.1, 9],
    [0.3, 7],
    [0.3, 8],
    [0.3, 9],
  ]);
  assert.deepEqual(result.specs.map((s) => s.name), [
    "sweep #1",
    "sweep #2",
    "sweep #3",
    "sweep #4",
    "sweep #5",
    "sweep #6",
  ]);
});

Deno.test("expandSweep() with an empty grid is the base spec, repeat times", () => {
  const result = expandSweep(request({ base: { ...BASE, name: "seed study" }, repeat: 2 }));
  assert.ok(result.ok);
  assert.deepEqual(result.specs.map((s) => [s.name, s.data.seed]), [["seed study #1", 1], [
    "seed study #2",
    2,
  ]]);
});

Deno.test("expandSweep() rejects the whole sweep when one grid value is invalid, pointing at that value", () => {
  const result = expandSweep(
    request({ base: BASE, grid: { "optimizer.lambda": [0.1, -1, 0.2], "data.shift": [0.07, 0.6] } }),
  );
  assert.equal(result.ok, false);
  assert.ok(!result.ok);
  const paths = result.issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ["grid.data.shift.1", "grid.optimizer.lambda.1"]);
  assert.match(result.issues.find((i) => i.path === "grid.optimizer.lambda.1")!.message, /≥ 0, found -1/);
});

Deno.test("expandSweep() reports a bad base field once, at base.<path>, not once per run", () => {
  const result = expandSweep(
    request({ base: { ...BASE, batchSize: 0 }, grid: { "data.seed": [1, 2, 3, 4, 5] } }),
  );
  assert.ok(!result.ok);
  assert.deepEqual(result.issues.map((i) => i.path), ["base.batchSize"]);
});

Deno.test("expandSweep() reports cross-field rules at the grid value that broke them (peak LR × lambda ≥ 1)", () => {
  const result = expandSweep(
    request({ base: { schedule: "[0.5, 0]cos[1e-3, 10]" }, grid: { "optimizer.lambda": [1, 3] } }),
  );
  assert.ok(!result.ok);
  assert.deepEqual(result.issues.map((i) => i.path), ["grid.optimizer.lambda.1"]);
});

Deno.test("expandSweep() refuses more than 1000 runs before expanding anything", () => {
  const values = Array.from({ length: 40 }, (_, i) => i);
  const result = expandSweep(
    request({ base: BASE, grid: { "data.seed": values, "optimizer.lambda": values.map((v) => v / 100) } }),
  );
  assert.ok(!result.ok);
  assert.deepEqual(result.issues, [{
    path: "grid",
    message: "expected at most 1000 runs, found 1600 (40 × 40)",
  }]);
  const repeated = expandSweep(request({ base: BASE, grid: { "data.seed": values }, repeat: 26 }));
  assert.ok(!repeated.ok);
  assert.match(repeated.issues[0]!.message, /found 1040 \(40 × repeat 26\)/);
});

Deno.test("expandSweep() names an unknown grid path as an unknown field", () => {
  const result = expandSweep(request({ base: BASE, grid: { "optimizer.learningRate": [1e-3] } }));
  assert.ok(!result.ok);
  assert.equal(result.issues[0]!.path, "grid.optimizer.learningRate.0");
  assert.match(result.issues[0]!.message, /unknown field 'learningRate'/);
});

Deno.test("expandSweep() cannot set a path through a non-object base value", () => {
  const result = expandSweep(request({ base: { ...BASE, data: 5 }, grid: { "data.seed": [1] } }));
  assert.ok(!result.ok);
  assert.deepEqual(result.issues, [{
    path: "grid.data.seed",
    message: "cannot set 'data.seed': base.data is 5, not an object",
  }]);
});

Deno.test("expandSweep() treats __proto__ in a grid path as a plain (unknown) field, never the prototype", () => {
  // The schema already refuses such a path; expandSweep() must be safe on its own too.
  const grid = JSON.parse('{"__proto__.polluted": [1]}') as Record<string, unknown[]>;
  const result = expandSweep({ base: BASE, grid, repeat: 1 });
  assert.ok(!result.ok);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.match(result.issues[0]!.message, /unknown field '__proto__'/);
});

Deno.test("sweepRequestSchema refuses grid paths that are not dotted field names", () => {
  for (
    const path of [
      "",
      "a..b",
      ".a",
      "a.",
      "a[0]",
      "a.constructor",
      "prototype",
      "__proto__.x",
      "data.__proto__",
    ]
  ) {
    assert.equal(sweepRequestSchema.safeParse({ grid: { [path]: [1] } }).success, false, path);
  }
});

Deno.test("expandSweep() yields exactly product × repeat valid specs, or none (property)", () => {
  const lambdas = fc.array(fc.oneof(fc.double({ min: 0, max: 5, noNaN: true }), fc.constant(-1)), {
    minLength: 1,
    maxLength: 5,
  });
  const seeds = fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 5 });
  fc.assert(
    fc.property(lambdas, seeds, fc.integer({ min: 1, max: 4 }), (lambda, seed, repeat) => {
      const result = expandSweep(
        request({ base: BASE, grid: { "optimizer.lambda": lambda, "data.seed": seed }, repeat }),
      );
      const allValid = lambda.every((l) => l >= 0 && l * 1e-3 < 1);
      assert.equal(result.ok, allValid);
      if (result.ok) {
        assert.equal(result.specs.length, lambda.length * seed.length * repeat);
        assert.equal(new Set(result.specs.map((s) => s.name)).size, result.specs.length);
      } else {
        assert.ok(result.issues.length > 0 && result.issues.length <= 50);
      }
    }),
    { numRuns: 200 },
  );
});
