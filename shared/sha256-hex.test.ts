import assert from "node:assert/strict";
import { sha256Hex } from "./sha256-hex.ts";

Deno.test("sha256Hex() gives the standard digests (FIPS 180-2 vectors), UTF-8 for non-ASCII text", async () => {
  assert.equal(await sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(await sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(await sha256Hex("λ"), "6bb5604cb68c1e249874295f9dad38394b818646a41a813af58598b72f0c221b"); // the bytes CE BB
});
