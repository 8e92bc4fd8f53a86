import { createHash } from "node:crypto";

/**
 * A checksum around a checkpoint's bytes, whatever the trainer put in them: `RJSEAL01`, the SHA-256 of
 * the payload, then the payload. Every store keeps sealed bytes and every load verifies them, so a
 * file cut short or bytes overwritten in place (a bad disk, a copy cut short, a torn chunk) are caught
 * before a single weight is trained from.
 *
 * @example
 * const bytes = openCheckpoint(sealCheckpoint(payload), "run 17's checkpoint"); // === payload
 */
const MAGIC = new TextEncoder().encode("RJSEAL01");
const HEADER = MAGIC.length + 32;

/** Why a stored checkpoint cannot be used; the caller falls back to the previous one. */
export class CheckpointDamagedError extends Error {
  override name = "CheckpointDamagedError";
  readonly code = "checkpoint_damaged";
}

export function sealCheckpoint(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  out.set(MAGIC, 0);
  out.set(sha256(payload), MAGIC.length);
  out.set(payload, HEADER);
  return out;
}

/** The payload of sealed bytes; throws {@link CheckpointDamagedError} naming what does not match. */
export function openCheckpoint(sealed: Uint8Array, what: string): Uint8Array {
  if (sealed.length < HEADER || !MAGIC.every((b, i) => sealed[i] === b)) {
    throw new CheckpointDamagedError(`${what}: no checksum header (${sealed.length} bytes; truncated, or not written by this version)`);
  }
  const payload = sealed.subarray(HEADER);
  const expected = Buffer.from(sealed.subarray(MAGIC.length, HEADER)).toString("hex");
  const actual = Buffer.from(sha256(payload)).toString("hex");
  if (expected !== actual) {
    throw new CheckpointDamagedError(
      `${what}: checksum mismatch over ${payload.length} bytes (SHA-256 stored ${expected.slice(0, 12)}…, computed ${actual.slice(0, 12)}…): truncated or overwritten`,
    );
  }
  return payload;
}

function sha256(bytes: Uint8Array): Uint8Array {
  return createHash("sha256").update(bytes).digest();
}
