import assert from "node:assert/strict";
import { webSocketTransport } from "./stream-transport.ts";

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
