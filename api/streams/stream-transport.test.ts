import assert from "node:assert/strict";
import { webSocketTransport, whenNeverOpened } from "./stream-transport.ts";

Deno.test("webSocketTransport: what is sent while the server socket is still connecting arrives, in order, once it opens", async () => {
  let queuedBytes = -1;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    const transport = webSocketTransport(socket);
    // Before the 101 is even sent: a subscriber started with the upgrade (create-stream-routes.ts).
    transport.send("first", 1);
    transport.send("second", 2);
    queuedBytes = transport.bufferedAmount();
    socket.onmessage = () => transport.close(1000, "done");
    return response;
  });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
    const got: string[] = [];
    const closed = new Promise<void>((resolve) => (ws.onclose = () => resolve()));
    ws.onmessage = (e) => {
      got.push(String(e.data));
      if (got.length === 2) ws.send("ack");
    };
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
    assert.deepEqual(got, ["first", "second"]);
    assert.equal(queuedBytes, "first".length + "second".length, "queued messages count as buffered");
  } finally {
    await server.shutdown();
  }
});

Deno.test("webSocketTransport: a close asked for while connecting comes after the queued messages, with its code", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    const transport = webSocketTransport(socket);
    transport.send(JSON.stringify({ type: "error", code: "slow_consumer" }), null);
    transport.close(1013, "try again later");
    transport.send("after the close: dropped", null);
    return response;
  });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
    const got: string[] = [];
    ws.onmessage = (e) => got.push(String(e.data));
    const code = await new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    assert.deepEqual(got, [JSON.stringify({ type: "error", code: "slow_consumer" })]);
    assert.equal(code, 1013);
  } finally {
    await server.shutdown();
  }
});

Deno.test({
  // Deno.serve's shutdown waits for such a socket for good (also in the API: see the closing note), so
  // this test's server is let go unreferenced instead of shut down.
  sanitizeOps: false,
  sanitizeResources: false,
  name:
    "whenNeverOpened: a client gone before the 101 leaves the server socket connecting with no event; the callback lets go",
  fn: async () => {
    let clientGone!: () => void;
    const gone = new Promise<void>((r) => (clientGone = r));
    let neverOpened!: () => void;
    const called = new Promise<void>((r) => (neverOpened = r));
    let opened = false;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.addEventListener("open", () => (opened = true));
      whenNeverOpened(socket, 300, neverOpened);
      await gone; // the client closes its connection while the handler is still admitting it
      return response;
    });
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      await conn.write(new TextEncoder().encode(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      ));
      await new Promise((r) => setTimeout(r, 50));
      conn.close();
      // Deno notices the client is gone before the handler answers: the answer is dropped, no 101.
      await new Promise((r) => setTimeout(r, 500));
      clientGone();
      const result = await Promise.race([
        called.then(() => "called"),
        new Promise((r) => setTimeout(() => r("not called"), 3000)),
      ]);
      assert.equal(result, "called");
      assert.equal(opened, false);
    } finally {
      server.unref();
      void server.shutdown().catch(() => {});
    }
  },
});
