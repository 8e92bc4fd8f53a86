// Property-based tests: random and malformed input through the real app and a real database. Whatever
// arrives, the API answers in the 4xx range with the one error shape (or 201 for a valid spec), never
// 5xx, and stores a row only for a spec that parseRunSpec() accepts, exactly as it returns it.
import assert from "node:assert/strict";
import fc from "fast-check";
import { SEED_SCHEDULES } from "../../shared/schedule/seed-schedules.ts";
import { dbTest, useTestApi } from "../testing/test-api.ts";
import { validateSpec } from "../validate-spec.ts";

const api = useTestApi();

const count = async (table: "runs" | "sweeps") =>
  (await api().sql<{ n: number }[]>`select count(*)::int as n from ${api().sql(table)}`)[0]!.n;

/** A value of any JSON type, to put where a field of another type belongs. */
const anyValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 12 }),
  fc.constant(""),
  fc.constant(-0),
  fc.constant(1e308),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);

const schedule = fc.oneof(
  fc.constantFrom(...SEED_SCHEDULES.map((s) => s.schedule)),
  fc.constantFrom(
    "[1e-3, 0]cos[1e-5, 3]",
    "[1e-3, 0]",
    "[1e-3, 5]lin[1e-4, 2]",
    "[0, 0]lin[0, 5]",
    "[1e-3,0]sin[0,3]",
    "[1e-3, 0]lin[1e-4, 1001]",
  ),
  fc.string({ maxLength: 30 }),
  fc.array(fc.record({ epoch: fc.integer({ min: -2, max: 40 }), value: fc.double({ min: -1, max: 1 }) }), {
    maxLength: 4,
  }),
  anyValue,
);

/** Mostly-plausible specs: each field sometimes valid, sometimes of the wrong type or out of range. */
const spec = fc.record({
  schedule,
  name: fc.oneof(fc.string({ maxLength: 220 }), anyValue),
  batchSize: fc.oneof(fc.integer({ min: -5, max: 5000 }), anyValue),
  threshold: fc.oneof(fc.double({ min: -1, max: 2 }), anyValue),
  tags: fc.oneof(fc.array(fc.string({ maxLength: 70 }), { maxLength: 34 }), anyValue),
  priority: fc.oneof(fc.integer({ min: -2000, max: 2000 }), anyValue),
  model: fc.oneof(
    fc.record({ depth: fc.oneof(fc.integer({ min: 0, max: 120 }), anyValue) }, { requiredKeys: [] }),
    anyValue,
  ),
  data: fc.oneof(
    fc.record({
      dataset: fc.oneof(fc.constantFrom("cifar10", "synthetic", "mnist"), anyValue),
      shift: fc.oneof(fc.double({ min: -1, max: 1 }), anyValue),
      seed: fc.oneof(fc.integer({ min: -1, max: 5_000_000_000 }), anyValue),
      trainSize: fc.oneof(fc.integer({ min: 0, max: 200_000 }), anyValue),
      validationSize: fc.oneof(fc.integer({ min: 0, max: 60_000 }), anyValue),
    }, { requiredKeys: [] }),
    anyValue,
  ),
  optimizer: fc.oneof(
    fc.record({
      lambda: fc.oneof(fc.double({ min: -1, max: 2000 }), anyValue),
      alpha: fc.oneof(fc.double({ min: -1, max: 1 }), anyValue),
      l2: fc.oneof(fc.double({ min: -1, max: 1 }), anyValue),
    }, { requiredKeys: [] }),
    anyValue,
  ),
  [fc.string({ maxLength: 8 }) as unknown as string]: anyValue,
}, { requiredKeys: [] });

/** Specs that are valid by construction, so the 201 branch is exercised too. */
const validSpecArb = fc.record({
  schedule: fc.constantFrom(...SEED_SCHEDULES.map((s) => s.schedule)),
  name: fc.string({ minLength: 1, maxLength: 50 }).filter((n) => n.trim() !== ""),
  batchSize: fc.integer({ min: 1, max: 4096 }),
  threshold: fc.double({ min: 0.01, max: 1, noNaN: true }),
  tags: fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,20}$/), { maxLength: 5 }),
  priority: fc.integer({ min: -1000, max: 1000 }),
  model: fc.record({ depth: fc.constantFrom(11, 20, 29, 56, 110) }),
  data: fc.record({
    shift: fc.double({ min: 0, max: 0.49, noNaN: true }),
    seed: fc.integer({ min: 0, max: 1000 }),
  }),
  optimizer: fc.record({
    lambda: fc.double({ min: 0, max: 100, noNaN: true }),
    l2: fc.double({ min: 0, max: 1e-3, noNaN: true }),
  }),
}, { requiredKeys: ["schedule"] });

function assertErrorShape(status: number, body: unknown) {
  assert.ok(status >= 400 && status < 500, `status ${status}: ${JSON.stringify(body)}`);
  const error = (body as { error?: { code?: unknown; message?: unknown } }).error;
  assert.equal(typeof error?.code, "string");
  assert.equal(typeof error?.message, "string");
}

dbTest(
  "POST /v1/runs with random specs: 201 exactly for valid ones (stored as parsed), else 4xx and no row",
  async () => {
    let created = 0;
    const before = await count("runs");
    await fc.assert(
      fc.asyncProperty(fc.oneof(validSpecArb, spec, fc.jsonValue({ maxDepth: 3 })), async (input) => {
        const res = await api().request("POST", "/v1/runs", { json: input, token: api().tokens.submit });
        const body = await res.json();
        const parsed = validateSpec(input);
        if (parsed.ok) {
          assert.equal(res.status, 201, JSON.stringify(body));
          assert.deepEqual(body.spec, parsed.spec);
          created++;
        } else {
          assert.equal(res.status, 422, JSON.stringify({ input, body }));
          assertErrorShape(res.status, body);
          assert.ok(body.error.issues.length > 0);
        }
      }),
      { numRuns: 200 },
    );
    assert.equal(await count("runs"), before + created);
    assert.ok(created > 0, "no valid spec was generated: the 201 branch went untested");
  },
);

dbTest("POST /v1/runs with malformed bodies and content types: always 4xx, never a row", async () => {
  const before = await count("runs");
  const contentType = fc.constantFrom(
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "",
    "application/x-www-form-urlencoded",
    "application/problem+json",
  );
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.constantFrom("{", "[", '{"schedule":', "null", "\u0000", "{}{}"),
      ),
      contentType,
      async (text, type) => {
        const headers: Record<string, string> = type === "" ? {} : { "content-type": type };
        const res = await api().request("POST", "/v1/runs", { body: text, headers });
        assertErrorShape(res.status, await res.json());
      },
    ),
    { numRuns: 200 },
  );
  const bytes = await api().request("POST", "/v1/runs", {
    body: new Uint8Array([0xff, 0xfe, 0x00, 0x7b]),
    headers: { "content-type": "application/json" },
  });
  assertErrorShape(bytes.status, await bytes.json());
  assert.equal(await count("runs"), before);
});

dbTest("POST /v1/sweeps with random grids: 201 with every run, or 4xx with no sweep and no run", async () => {
  const value = fc.oneof(
    fc.double({ min: -1, max: 3 }),
    fc.integer({ min: -3, max: 3 }),
    fc.string({ maxLength: 6 }),
    fc.constant(null),
  );
  const path = fc.constantFrom(
    "optimizer.lambda",
    "data.seed",
    "data.shift",
    "schedule",
    "batchSize",
    "threshold",
    "model.depth",
    "nope",
    "data",
    "a.b.c",
    "bad path",
    "",
  );
  const sweep = fc.record({
    base: fc.oneof(fc.constant({ schedule: "[1e-3, 0]cos[1e-5, 3]" }), spec, anyValue),
    grid: fc.oneof(
      fc.dictionary(path, fc.array(value, { minLength: 0, maxLength: 4 }), { maxKeys: 3 }),
      anyValue,
    ),
    repeat: fc.oneof(fc.integer({ min: 0, max: 3 }), anyValue),
  }, { requiredKeys: [] });
  let runsCreated = 0;
  const [runsBefore, sweepsBefore] = [await count("runs"), await count("sweeps")];
  let sweepsCreated = 0;
  await fc.assert(
    fc.asyncProperty(sweep, async (input) => {
      const res = await api().request("POST", "/v1/sweeps", { json: input, token: api().tokens.submit });
      const body = await res.json();
      if (res.status === 201) {
        sweepsCreated++;
        runsCreated += body.runs.length;
        assert.ok(body.runs.length >= 1);
      } else {
        assertErrorShape(res.status, body);
      }
    }),
    { numRuns: 200 },
  );
  assert.equal(await count("sweeps"), sweepsBefore + sweepsCreated);
  assert.equal(await count("runs"), runsBefore + runsCreated);
});

dbTest("GET /v1/runs with random query strings: 200 or 400, never 5xx", async () => {
  const key = fc.constantFrom("state", "sweep", "tag", "namePrefix", "sort", "cursor", "limit", "x");
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(key, fc.string({ maxLength: 40 })), { maxLength: 4 }),
      async (pairs) => {
        const query = new URLSearchParams(pairs).toString();
        const res = await api().request("GET", `/v1/runs?${query}`, { token: api().tokens.read });
        const body = await res.json();
        if (res.status !== 200) {
          assert.equal(res.status, 400, `${query}: ${JSON.stringify(body)}`);
          assertErrorShape(res.status, body);
        }
      },
    ),
    { numRuns: 200 },
  );
});

dbTest(
  "POST /v1/runs with objects whose toString/valueOf are not functions is a 422, not a 500",
  async () => {
    for (
      const body of [
        '{"schedule": {"toString": 1}}',
        '{"schedule": [{"epoch": {"toString": 1}, "value": 1}]}',
      ]
    ) {
      const res = await api().request("POST", "/v1/runs", {
        body,
        headers: { "content-type": "application/json" },
      });
      assert.equal(res.status, 422, body);
      assertErrorShape(res.status, await res.json());
    }
  },
);
