import assert from "node:assert/strict";
import { checkWorkerTimings, ConfigError, loadConfig } from "./config.ts";

Deno.test("HEARTBEAT_S ≥ LEASE_S stops only what runs workers: the API's config loads, the workers' check names the variable", () => {
  const env = { LEASE_S: "30", HEARTBEAT_S: "40" };
  assert.equal(loadConfig(env).HEARTBEAT_S, 40);
  assert.throws(() => checkWorkerTimings(env), (e: unknown) =>
    e instanceof ConfigError && /HEARTBEAT_S: must be less than LEASE_S.*\(got "40"\)/.test(e.message));
  checkWorkerTimings({ LEASE_S: "30", HEARTBEAT_S: "10" });
  checkWorkerTimings({}); // the defaults (30, 10) hold
});

Deno.test("LOG_LEVEL and LOG_FORMAT are checked like every setting", () => {
  assert.equal(loadConfig({ LOG_FORMAT: "json" }).LOG_FORMAT, "json");
  assert.equal(loadConfig({}).LOG_FORMAT, undefined);
  assert.throws(() => loadConfig({ LOG_FORMAT: "xml" }), /LOG_FORMAT: Invalid option: expected one of "json"\|"text" \(got "xml"\)/);
  assert.throws(() => loadConfig({ LOG_LEVEL: "loud" }), /LOG_LEVEL/);
});
