import assert from "node:assert/strict";
import { isDatabaseUnreachable, reconnectBackoffS } from "./database-unreachable.ts";

const withCode = (code: unknown) => Object.assign(new Error("x"), { code });

Deno.test("isDatabaseUnreachable() is true for lost connections and a server that is down or starting", () => {
  for (const code of ["ECONNREFUSED", "ECONNRESET", "CONNECTION_CLOSED", "CONNECT_TIMEOUT", "57P01", "57P03", "08006", "53300"]) {
    assert.equal(isDatabaseUnreachable(withCode(code)), true, code);
  }
});

Deno.test("isDatabaseUnreachable() is false for answers: constraints, bad SQL, a client ended on purpose, no code", () => {
  for (const e of [withCode("23505"), withCode("42P01"), withCode("CONNECTION_ENDED"), withCode(57), new Error("x"), null, "ECONNREFUSED"]) {
    assert.equal(isDatabaseUnreachable(e), false, String((e as { code?: unknown } | null)?.code ?? e));
  }
});

Deno.test("reconnectBackoffS() starts near 0.05 s and never waits more than 2 s", () => {
  assert.ok(reconnectBackoffS(0) <= 0.1);
  for (let n = 0; n < 50; n++) assert.ok(reconnectBackoffS(n) <= 2 && reconnectBackoffS(n) > 0, String(n));
  assert.ok(reconnectBackoffS(30) >= 1);
});
