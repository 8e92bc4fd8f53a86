// The connection guard (api/http/connection-guard.ts) limits a WebSocket client's message size by
// reading the frames after an upgrade, which it recognizes in a connection's first request head. A
// client that first sent an ordinary request on a keep-alive connection, then the upgrade, got a
// WebSocket no one measured (Deno takes messages up to 64 MiB whole into memory). Against the real
// api/main.ts process over raw TCP: an upgrade that is not its connection's first request is refused;
// a refused first upgrade ends its connection (it cannot become the keep-alive that upgrades later);
// an upgrade that is the first request still opens, and its oversized frames still close it.
import assert from "node:assert/strict";
import { createApiToken } from "../shared/api-tokens.ts";
import { type ApiProcess, startApiProcess } from "./helpers/api-process.deno.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.ts";
import { enqueueRuns } from "../shared/queue/enqueue-run.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
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
  await api.stop();
  await db.drop();
});

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

Deno.test({
  ...opts,
  name: "a WebSocket upgrade after another request on a keep-alive connection is refused (400), the connection still serves HTTP",
  fn: async () => {
    const c = await RawConnection.open(api.port);
    try {
      await c.send("GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n");
      assert.equal((await c.response())?.status, 200);
      await c.send(upgrade(reader));
      const refused = await c.response();
      assert.equal(refused?.status, 400, `an unmeasured WebSocket was opened: ${refused?.head}`);
      await c.send("GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n");
      assert.equal((await c.response())?.status, 200);
    } finally {
      c.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "a refused first upgrade (bad token) ends its connection: it cannot stay open and upgrade unmeasured later",
  fn: async () => {
    const c = await RawConnection.open(api.port);
    try {
      await c.send(upgrade("rjt_not-a-token-at-all-not-a-token-at-all"));
      const res = await c.response();
      assert.equal(res?.status, 401, res?.head);
      assert.equal(await c.closedWithin(3000), true, "the connection stayed open after the refused upgrade");
    } finally {
      c.close();
    }
  },
});

Deno.test({
  ...opts,
  name: "an upgrade as the first request opens (101), and a message over the subscriber limit still closes it",
  fn: async () => {
    const c = await RawConnection.open(api.port);
    try {
      await c.send(upgrade(reader));
      const res = await c.response();
      assert.equal(res?.status, 101, res?.head);
      // One masked binary frame announcing 1 MiB (the subscriber limit is 64 KiB), then its first bytes.
      const header = new Uint8Array([0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4]);
      await c.sendBytes(header);
      await c.sendBytes(new Uint8Array(32 * 1024)).catch(() => {});
      assert.equal(await c.closedWithin(3000), true, "the oversized message did not close the socket");
    } finally {
      c.close();
    }
  },
});
