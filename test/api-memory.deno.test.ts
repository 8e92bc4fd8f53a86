// Issue 13, finding 4: a read token made the API use gigabytes, with one /v1/sql statement returning a
// 300 MB value (the byte cap was checked after a batch was decoded) or with subscriber WebSockets sent
// 60 MiB frames. Against the real api/main.ts process; its peak RSS (VmHWM) is the measure.
import assert from "node:assert/strict";
import { createApiToken } from "../shared/api-tokens.ts";
import { type ApiProcess, startApiProcess } from "./helpers/api-process.deno.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MB = 1024 * 1024;
let db: TestDatabase;
let api: ApiProcess;
let reader = "";
let runId = "";

Deno.test.beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApiProcess({ databaseUrl: db.url });
  reader = (await createApiToken(db.sql, { name: "reader", scopes: ["read"] })).token;
  runId = (await enqueueRuns(db.sql, [{ epochs: 2 }]))[0]!;
});
Deno.test.afterAll(async () => {
  console.log(`API peak RSS over the memory attacks: ${((api.peakRss() ?? 0) / MB).toFixed(0)} MiB`);
  await api.stop();
  await db.drop();
});

async function sql(statement: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${api.url}/v1/sql`, {
    method: "POST",
    headers: { authorization: `Bearer ${reader}`, "content-type": "application/json" },
    body: JSON.stringify({ sql: statement }),
  });
  return { status: res.status, body: await res.json() };
}

Deno.test({
  ...opts,
  name: "a 300 MB value from /v1/sql is cut by Postgres before it reaches the API: 200 truncated, RSS stays low",
  fn: async () => {
    const base = api.rss()!;
    const one = await sql("select repeat(repeat('x', 1000), 300000) as big");
    assert.equal(one.status, 200, JSON.stringify(one.body).slice(0, 300));
    assert.equal(one.body.truncated, true);
    assert.deepEqual(one.body.rows, []);
    const many = await sql("select g, repeat('y', 1000000) as mb from generate_series(1, 100) g");
    assert.equal(many.status, 200);
    assert.equal(many.body.truncated, true);
    const rows = many.body.rows as unknown[][];
    assert.ok(rows.length >= 20 && rows.length <= 33, `about 32 MiB of 1 MB rows, found ${rows.length}`);
    const small = await sql("select 1 as one, 'a' as two");
    assert.deepEqual(small.body.rows, [[1, "a"]]);
    const explain = await sql("explain select * from runs_view");
    assert.equal(explain.status, 200, "EXPLAIN still works");
    const peak = api.peakRss()!;
    console.log(`RSS before ${(base / MB).toFixed(0)} MiB, peak after the SQL attacks ${(peak / MB).toFixed(0)} MiB`);
    assert.ok(peak < base + 400 * MB, `peak RSS ${(peak / MB).toFixed(0)} MiB`);
  },
});

Deno.test({
  ...opts,
  name: "eight subscriber WebSockets sending 60 MiB frames are closed before the payload is taken in",
  fn: async () => {
    const before = api.peakRss()!;
    const payload = new Uint8Array(60 * MB);
    const closed = await Promise.all(Array.from({ length: 8 }, async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${api.port}/v1/runs/${runId}/stream`, { headers: { authorization: `Bearer ${reader}` } });
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      const done = new Promise<boolean>((r) => (ws.onclose = () => r(true)));
      ws.send(payload);
      return await Promise.race([done, new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
    }));
    assert.deepEqual(closed, Array(8).fill(true), "every oversized socket is closed");
    const health = await fetch(`${api.url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const peak = api.peakRss()!;
    console.log(`peak RSS before the frames ${(before / MB).toFixed(0)} MiB, after ${(peak / MB).toFixed(0)} MiB`);
    assert.ok(peak < before + 200 * MB, `peak RSS grew to ${(peak / MB).toFixed(0)} MiB`);
  },
});

// An upgrade the guard did not see could bypass the frame check above: a WebSocket upgrade sent after
// another request on a keep-alive connection was not measured (api/http/connection-guard.ts now reads
// each connection's first head before connecting it). Over raw TCP: an upgrade that is not its
// connection's first request is refused; a refused first upgrade ends its connection (it cannot become
// the keep-alive that upgrades later); an upgrade that is the first request still opens, and its
// oversized frames still close it.
const upgrade = (token: string) =>
  `GET /v1/runs/${runId}/stream HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`;

/** One raw connection: writes requests, reads one response head (and its Content-Length body) at a time. */
class RawConnection {
  #buf = new Uint8Array(0);
  private constructor(private readonly conn: Deno.Conn) {}
  static async open(port: number): Promise<RawConnection> {
    return new RawConnection(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  async send(text: string): Promise<void> {
    await this.conn.write(new TextEncoder().encode(text));
  }
  async sendBytes(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }
  /** The next response's status and headers, its body consumed; null when the connection ended first. */
  async response(): Promise<{ status: number; head: string } | null> {
    for (;;) {
      const text = new TextDecoder().decode(this.#buf);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = text.slice(0, end);
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (this.#buf.length >= end + 4 + length) {
          this.#buf = this.#buf.subarray(end + 4 + length);
          return { status: Number(head.split(" ")[1]), head };
        }
      }
      if (!(await this.#fill())) return null;
    }
  }
  /** True when the server closes the connection within `ms` (EOF or reset). */
  async closedWithin(ms: number): Promise<boolean> {
    const timer = new Promise<"open">((r) => setTimeout(() => r("open"), ms));
    for (;;) {
      const got = await Promise.race([this.#fill(), timer]);
      if (got === "open") return false;
      if (!got) return true;
    }
  }
  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.conn.read(chunk).catch(() => null);
    if (n === null) return false;
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }
  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

async function withConnection(fn: (c: RawConnection) => Promise<void>): Promise<void> {
  const c = await RawConnection.open(api.port);
  try {
    await fn(c);
  } finally {
    c.close();
  }
}

Deno.test({
  ...opts,
  name: "a WebSocket upgrade after another request on a keep-alive connection is refused (400), the connection still serves HTTP",
  fn: () =>
    withConnection(async (c) => {
      await c.send("GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n");
      assert.equal((await c.response())?.status, 200);
      await c.send(upgrade(reader));
      const refused = await c.response();
      assert.equal(refused?.status, 400, `an unmeasured WebSocket was opened: ${refused?.head}`);
      await c.send("GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n");
      assert.equal((await c.response())?.status, 200);
    }),
});

Deno.test({
  ...opts,
  name: "a refused first upgrade (bad token) ends its connection: it cannot stay open and upgrade unmeasured later",
  fn: () =>
    withConnection(async (c) => {
      await c.send(upgrade("rjt_not-a-token-at-all-not-a-token-at-all"));
      const res = await c.response();
      assert.equal(res?.status, 401, res?.head);
      assert.equal(await c.closedWithin(3000), true, "the connection stayed open after the refused upgrade");
    }),
});

Deno.test({
  ...opts,
  name: "an upgrade as the first request opens (101), and a message over the subscriber limit still closes it",
  fn: () =>
    withConnection(async (c) => {
      await c.send(upgrade(reader));
      const res = await c.response();
      assert.equal(res?.status, 101, res?.head);
      // One masked binary frame announcing 1 MiB (the subscriber limit is 64 KiB), then its first bytes.
      const header = new Uint8Array([0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4]);
      await c.sendBytes(header);
      await c.sendBytes(new Uint8Array(32 * 1024)).catch(() => {});
      assert.equal(await c.closedWithin(3000), true, "the oversized message did not close the socket");
    }),
});

Deno.test({
  ...opts,
  name: "a request head sent a byte at a time (its blank line split across writes) is read and answered",
  fn: () =>
    withConnection(async (c) => {
      for (const byte of new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n")) {
        await c.sendBytes(new Uint8Array([byte]));
      }
      assert.equal((await c.response())?.status, 200);
    }),
});
