import assert from "node:assert/strict";
import { test } from "node:test";
import { CheckpointDamagedError, openCheckpoint, sealCheckpoint } from "./checkpoint-seal.ts";

const payload = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);

test("openCheckpoint() returns exactly the sealed payload", () => {
  assert.deepEqual(openCheckpoint(sealCheckpoint(payload), "c"), payload);
  assert.deepEqual(openCheckpoint(sealCheckpoint(new Uint8Array(0)), "c"), new Uint8Array(0));
});

test("openCheckpoint() rejects truncated bytes, at any length", () => {
  const sealed = sealCheckpoint(payload);
  for (const n of [0, 5, 40, 41, sealed.length - 1]) {
    assert.throws(() => openCheckpoint(sealed.subarray(0, n), "ck"), (e) => e instanceof CheckpointDamagedError && /^ck: /.test(e.message), `length ${n}`);
  }
});

test("openCheckpoint() rejects one overwritten byte anywhere (same length), naming the mismatch", () => {
  const sealed = sealCheckpoint(payload);
  for (const at of [8, 39, 40, 500, sealed.length - 1]) {
    const damaged = sealed.slice();
    damaged[at]! ^= 0x01;
    assert.throws(() => openCheckpoint(damaged, "ck"), /checksum mismatch over 1000 bytes/, `byte ${at}`);
  }
});

test("openCheckpoint() rejects bytes without the seal (an unsealed older file)", () => {
  assert.throws(() => openCheckpoint(payload, "old"), /old: no checksum header \(1000 bytes/);
});
