import assert from "node:assert/strict";
import { toCsv } from "./csv.ts";

Deno.test("toCsv() turns text a spreadsheet would run as a formula into plain text", () => {
  const cells = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "-1.5", "+3", "1e-3", "ok", "a=b"];
  const csv = toCsv(["v"], cells.map((c) => [c]));
  assert.equal(
    csv,
    "v\r\n" + [
      `"'=HYPERLINK(""http://x"",""y"")"`,
      "'+1+2",
      "'-2+3",
      "'@SUM(A1)",
      "'\tx",
      `"'\rx"`,
      "-1.5",
      "+3",
      "1e-3",
      "ok",
      "a=b",
    ].map((l) => `${l}\r\n`).join(""),
  );
  assert.equal(toCsv(["n"], [[-2], [null]]), "n\r\n-2\r\n\r\n", "numbers are never touched");
});
