// The stream routes inside the real API app (createApp's middleware: request ids, logging, body limit,
// its error handler) over a real Deno.serve: upgrades and refusals still work there.
import assert from "node:assert/strict";
import postgres from "postgres";
import { createApp } from "../api/create-app.ts";
import { memoryLogger } from "../shared/logger.ts";
import { StreamHub } from "../api/streams/stream-hub.ts";
import { STREAM_ROUTE_DOCS } from "../api/streams/stream-route-docs.ts";
import {
  createToken,
  DrivenRun,
  insertRun,
  storedMessages,
  Subscriber,
} from "../api/streams/stream-test-kit.ts";
import { createTestDatabase } from "./helpers/test-database.ts";

Deno.test({
  name:
    "inside createApp: a WebSocket subscribes, SSE streams, refusals carry the request id, no token is logged",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const db = await createTestDatabase();
    const log = memoryLogger();
    // The app's own client, as in api/main.ts (drizzle changes a client's JSON serializers, which the
    // queue's writers used by this test's producer on db.sql rely on).
    const sql = postgres(db.url, { max: 4, onnotice: () => {} });
    const hub = new StreamHub({ sql, log });
    await hub.start();
    const app = createApp({ sql, readerSql: null, log, streams: { hub, allowedOrigins: [] } });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
    const base = `127.0.0.1:${server.addr.port}`;
    try {
      const token = await createToken(db.sql, ["read"]);
      const runId = await insertRun(db.sql);
      const sub = new Subscriber(`ws://${base}/v1/runs/${runId}/stream`, token);
      await sub.opened;
      const run = new DrivenRun(db.sql, runId);
      await run.claim();
      await run.epoch(1);
      await run.complete();
      assert.equal((await sub.closed).code, 1000);
      assert.deepEqual(sub.durable(), await storedMessages(db.sql, runId));

      const sse = await fetch(`http://${base}/v1/runs/${runId}/events`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(sse.status, 200);
      assert.ok(sse.headers.get("x-request-id"));
      assert.equal((await sse.text()).split("\n\n").filter((b) => b.startsWith("id:")).length, 3);

      const refused = await fetch(`http://${base}/v1/runs/${runId}/stream`, {
        headers: { upgrade: "websocket", authorization: "Bearer rjt_nope" },
      });
      assert.equal(refused.status, 401);
      assert.ok(refused.headers.get("x-request-id"));
      assert.equal((await refused.json()).error.code, "unauthorized");
      assert.ok(!JSON.stringify(log.entries).includes(token));
    } finally {
      await hub.close();
      await server.shutdown();
      await sql.end();
      await db.drop();
    }
  },
});

Deno.test({
  name: "the stream endpoints are in /openapi.json, each is served (401 without a token, not 404), other methods 405",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const db = await createTestDatabase();
    const sql = postgres(db.url, { max: 4, onnotice: () => {} });
    const hub = new StreamHub({ sql, log: memoryLogger() });
    await hub.start();
    const app = createApp({ sql, readerSql: null, log: memoryLogger(), streams: { hub, allowedOrigins: [] } });
    try {
      const doc = await (await app.request("/openapi.json")).json();
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
      assert.deepEqual(refs.filter((r) => !(r in doc.components.schemas)), [], "every $ref resolves");
      const runId = await insertRun(db.sql);
      for (const route of STREAM_ROUTE_DOCS) {
        const op = doc.paths[route.path.replace(/:(\w+)/g, "{$1}")]?.get;
        assert.equal(op?.operationId, route.operationId, `${route.path} documented`);
        assert.deepEqual(op.security, [{ bearer: [route.scope] }]);
        const concrete = route.path.replace(":id", runId);
        const res = await app.request(concrete, { headers: { upgrade: "websocket" } });
        assert.equal(res.status, 401, `${concrete} is served and asks for a token`);
        await res.body?.cancel();
        const post = await app.request(concrete, { method: "POST" });
        assert.equal(post.status, 405, `POST ${concrete}`);
        assert.equal(post.headers.get("allow"), "GET, HEAD");
        await post.body?.cancel();
      }
    } finally {
      await hub.close();
      await sql.end();
      await db.drop();
    }
  },
});
