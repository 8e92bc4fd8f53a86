import assert from "node:assert/strict";
import { stopsWithParent, watchParent } from "./watch-parent.ts";

Deno.test("watchParent() calls back once when the parent pid changes, and not before", async () => {
  let ppid = 4242;
  let calls = 0;
  const stop = watchParent(() => ppid, () => calls++, 10);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(calls, 0);
  ppid = 1; // re-parented to init: the parent died
  await new Promise((r) => setTimeout(r, 40));
  ppid = 7;
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(calls, 1);
  stop();
});

Deno.test("stopsWithParent() under npm run or with --stop-with-parent, not when started by hand", () => {
  assert.equal(stopsWithParent({ npm_lifecycle_event: "start" }, []), true);
  assert.equal(stopsWithParent({}, ["--stop-with-parent"]), true);
  assert.equal(stopsWithParent({}, []), false);
  assert.equal(stopsWithParent({ npm_lifecycle_event: "" }, []), false);
});
