/**
 * A TCP proxy in front of Postgres that interferes with the answer to one statement: the first time a
 * client executes a statement whose text contains `marker`, the server's whole answer to it (up to and
 * including ReadyForQuery, so the implicit transaction has committed) is
 * - `drop`ped, and both sockets are closed: the client sees a reset connection for a write that in
 *   fact committed, the case a worker must look up before writing again; or
 * - `hold`: delivered `ms` later, so that a test can act while the client waits for it.
 * It follows the v3 protocol's message framing (type byte + length) on both sides; the startup message
 * has no type byte, and no SSL request is expected.
 *
 * @example
 * const proxy = await startStatementReplyProxy(db.url, "state = 'succeeded'", { action: "drop" });
 * startWorker({ DATABASE_URL: proxy.url, ... });
 * await eventually("dropped", () => proxy.dropped === 1);
 */
import net from "node:net";

export interface StatementReplyProxy {
  url: string;
  /** Answers dropped or held so far (at most one). */
  readonly dropped: number;
  /** Settles when the answer is being held (action `hold`). */
  readonly holding: Promise<void>;
  close(): Promise<void>;
}

export async function startStatementReplyProxy(
  databaseUrl: string,
  marker: string,
  how: { action: "drop" } | { action: "hold"; ms: number },
): Promise<StatementReplyProxy> {
  const target = new URL(databaseUrl);
  let dropped = 0;
  let nowHolding!: () => void;
  const holding = new Promise<void>((r) => (nowHolding = r));
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    let parsedMarker = false; // a Parse with the marker went by: its next Execute is the one
    let armed = false; // that Execute was sent: its answer, up to ReadyForQuery, is dropped or held
    const fromClient = framer(true, (type, body) => {
      if (dropped > 0) return;
      if (type === "P" && body.toString("latin1").includes(marker)) parsedMarker = true;
      if (type === "E" && parsedMarker) armed = true;
    });
    let held: Buffer[] = [];
    let later: Buffer[] | null = null;
    const fromServer = framer(false, (type) => {
      if (armed && type === "Z") {
        dropped++;
        armed = false;
        if (how.action === "drop") {
          client.destroy();
          upstream.destroy();
          return;
        }
        // Everything after it on this connection waits too, so the client reads its answers in order.
        later = [];
        nowHolding();
        setTimeout(() => {
          const rest = Buffer.concat([...held, ...later!]);
          held = [];
          later = null;
          if (!client.destroyed) client.write(rest);
        }, how.ms);
      }
    });
    client.on("data", (d) => {
      fromClient(d);
      upstream.write(d);
    });
    upstream.on("data", (d) => {
      const wasArmed = armed;
      if (later !== null) later.push(d);
      else if (wasArmed) held.push(d);
      fromServer(d);
      if (!wasArmed && !armed && later === null && !client.destroyed) client.write(d);
      // While armed nothing of the answer reaches the client (it may span several reads).
    });
    for (const s of [client, upstream]) {
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    get dropped() {
      return dropped;
    },
    holding,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Splits a byte stream into protocol messages; the client's first message is the untyped startup. */
function framer(startup: boolean, onMessage: (type: string, body: Buffer) => void): (d: Buffer) => void {
  let pending = Buffer.alloc(0);
  let first = startup;
  return (d) => {
    pending = Buffer.concat([pending, d]);
    for (;;) {
      const headerLength = first ? 4 : 5;
      if (pending.length < headerLength) return;
      const length = pending.readInt32BE(first ? 0 : 1);
      const total = (first ? 0 : 1) + length;
      if (pending.length < total) return;
      if (!first) onMessage(String.fromCharCode(pending[0]!), pending.subarray(5, total));
      first = false;
      pending = pending.subarray(total);
    }
  };
}
