/**
 * The API's front door: Deno.serve has no header timeout, no idle timeout and no connection cap, so
 * anyone who can reach the port could hold connections open until the process runs out of file
 * descriptors ("Too many open files") and dies. This accepts TCP connections itself and hands each to
 * Deno.serve, which listens on a unix socket in a private (0700) folder that nobody else can reach,
 * byte for byte (WebSockets and SSE included). It enforces, per connection:
 *
 * - a header timeout: the first request's headers must be complete within `headerTimeoutMs`;
 * - an idle timeout: no byte either way for `idleTimeoutMs` closes it (streams ping well within it);
 * - a cap: at most `maxConnections` at once, never more than the fd limit allows (three descriptors per
 *   connection: ours, our end to Deno.serve, Deno.serve's end). At the cap a new connection makes room by
 *   closing the one that has been quiet longest, so connections held open by a client that sends nothing
 *   go first and cannot lock others out.
 *
 * Running out of descriptors anyway (other files) never ends the accept loop: it frees the quietest
 * connection and waits a moment.
 *
 * A WebSocket client's messages are measured frame by frame (Deno takes up to 64 MiB whole into memory),
 * which needs the upgrade to be recognized: the guard reads each connection's first request head before
 * it connects it, and hands a connection that opens with an upgrade to a second Deno.serve socket. The
 * HTTP socket refuses upgrades (an upgrade after another request on a keep-alive connection would not be
 * measured), and a connection whose upgrade was refused (a 401) ends with that answer, so it cannot stay
 * a keep-alive connection that upgrades later. Browsers and `ws` open a connection per WebSocket.
 */
export interface ConnectionGuardOptions {
  hostname: string;
  port: number;
  maxConnections: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  onListen?: (addr: { hostname: string; port: number }) => void;
  log?: (level: "warn" | "info", msg: string, fields?: Record<string, unknown>) => void;
}

export interface GuardedServer {
  /** The effective cap (the configured one, lowered to fit the fd limit). */
  maxConnections: number;
  /** Connections open now. */
  open(): number;
  /** Stops accepting, lets Deno.serve finish what is in flight, then closes every connection. */
  shutdown(): Promise<void>;
}

interface Tracked {
  client: Deno.Conn;
  upstream: Deno.Conn | null;
  openedAt: number;
  lastIo: number;
  headersDone: boolean;
  closed: boolean;
}

/** Largest message a WebSocket client may send: subscribers send nothing big; workers send events. */
export const MAX_SUBSCRIBER_MESSAGE = 64 * 1024;
export const MAX_WORKER_MESSAGE = 1024 * 1024;
/** A request head bigger than this is not one we serve. */
const MAX_HEAD = 64 * 1024;

/** Descriptors kept free for everything else the process opens (Postgres pools, files, the listener). */
const FD_RESERVE = 64;
const FDS_PER_CONNECTION = 3;
/** How stale the descriptor count may be while accepting (see descriptorsInUse). */
const FD_COUNT_MS = 50;

export async function serveGuarded(
  opts: ConnectionGuardOptions,
  handler: Deno.ServeHandler,
): Promise<GuardedServer> {
  const dir = await Deno.makeTempDir({ prefix: "resnet-jobs-api-" }); // 0700
  const httpSocket = `${dir}/http.sock`;
  const webSocketSocket = `${dir}/ws.sock`;
  const inners = [
    Deno.serve({ path: httpSocket, onListen: () => {} }, refusingUpgrades(handler)),
    Deno.serve({ path: webSocketSocket, onListen: () => {} }, handler),
  ];
  for (const inner of inners) {
    inner.finished.catch((e) => {
      // Should a server behind us fail after all, say so and exit: the supervisor starts a fresh one.
      opts.log?.("warn", "HTTP server failed", { error: (e as Error).message });
      Deno.exit(1);
    });
  }
  const fdLimit = await openFileLimit();
  const maxConnections = Math.max(1, Math.min(opts.maxConnections, Math.floor((fdLimit - FD_RESERVE) / FDS_PER_CONNECTION)));
  const listener = Deno.listen({ hostname: opts.hostname, port: opts.port });
  const addr = listener.addr as Deno.NetAddr;
  opts.onListen?.({ hostname: addr.hostname, port: addr.port });
  const live = new Set<Tracked>();
  let stopping = false;
  let lastWarn = 0;
  const warn = (msg: string, fields: Record<string, unknown>) => {
    if (Date.now() - lastWarn < 10_000) return; // an attack must not flood the log either
    lastWarn = Date.now();
    opts.log?.("warn", msg, fields);
  };

  const close = (t: Tracked) => {
    if (t.closed) return;
    t.closed = true;
    live.delete(t);
    for (const c of [t.client, t.upstream]) {
      try {
        c?.close();
      } catch { /* already closed */ }
    }
  };
  const evictQuietest = (): boolean => {
    let quietest: Tracked | null = null;
    for (const t of live) if (quietest === null || t.lastIo < quietest.lastIo) quietest = t;
    if (quietest !== null) close(quietest);
    return quietest !== null;
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const t of live) {
      if (!t.headersDone && now - t.openedAt > opts.headerTimeoutMs) close(t);
      else if (now - t.lastIo > opts.idleTimeoutMs) close(t);
    }
  }, Math.max(50, Math.min(1000, opts.headerTimeoutMs / 4)));

  /**
   * Copies one direction; at its end passes the half-close on, so a response in flight still arrives.
   * `frames` (client to server on a WebSocket) closes the connection at a message over its path's limit,
   * before that message's payload is passed on.
   */
  const pipe = async (t: Tracked, from: Deno.Conn, to: Deno.Conn, frames: FrameLimiter | null) => {
    const buf = new Uint8Array(16 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        t.lastIo = Date.now();
        const chunk = buf.subarray(0, n);
        if (frames !== null && !frames.accept(chunk)) break;
        await writeAll(to, chunk);
      }
      if (frames?.over) {
        warn("closed a WebSocket that sent a message over its size limit", { limit: frames.limit });
        close(t);
        return;
      }
      await to.closeWrite();
    } catch {
      close(t); // reset by peer, or closed by us: either way this connection is over
    }
  };

  /** The first message head read from `from` (and what came with it), or null when none came. */
  /**
   * The first message head read from `from` (and what came with it), or null when none came. Linear in
   * the bytes read, however they are split: a client sending a 64 KiB head a byte at a time must not
   * cost a copy and a rescan of everything so far per byte on the API's one thread.
   */
  const readHead = async (t: Tracked, from: Deno.Conn): Promise<{ bytes: Uint8Array; end: number } | null> => {
    let seen = new Uint8Array(4 * 1024);
    let length = 0;
    try {
      for (;;) {
        if (length === seen.length) {
          const grown = new Uint8Array(seen.length * 2);
          grown.set(seen);
          seen = grown;
        }
        const n = await from.read(seen.subarray(length));
        if (n === null) return null;
        t.lastIo = Date.now();
        // A "\r\n\r\n" may straddle the last read: look from three bytes before it.
        const end = headerEnd(seen.subarray(0, length + n), Math.max(0, length - 3));
        length += n;
        if (end >= 0) return { bytes: seen.subarray(0, length), end };
        if (length > MAX_HEAD) return null;
      }
    } catch {
      return null; // swept by the header timeout, or reset
    }
  };

  const handle = async (client: Deno.Conn) => {
    const now = Date.now();
    const t: Tracked = { client, upstream: null, openedAt: now, lastIo: now, headersDone: false, closed: false };
    live.add(t);
    const head = await readHead(t, client);
    if (head === null || t.closed) {
      close(t);
      return;
    }
    t.headersDone = true;
    const limit = webSocketLimit(new TextDecoder().decode(head.bytes.subarray(0, head.end)));
    try {
      t.upstream = await Deno.connect({ transport: "unix", path: limit === null ? httpSocket : webSocketSocket });
    } catch (e) {
      warn("cannot reach the HTTP server", { error: (e as Error).message });
      close(t);
      return;
    }
    if (t.closed) {
      // Evicted or swept while connecting: close() already ran, before this upstream existed.
      try {
        t.upstream.close();
      } catch { /* already closed */ }
      return;
    }
    const frames = limit === null ? null : new FrameLimiter(limit);
    // Frames sent right behind the upgrade request came with its head.
    if (frames !== null && !frames.accept(head.bytes.subarray(head.end))) {
      warn("closed a WebSocket that sent a message over its size limit", { limit: frames.limit });
      close(t);
      return;
    }
    try {
      await writeAll(t.upstream, head.bytes);
    } catch {
      close(t);
      return;
    }
    if (frames !== null && !(await switchedProtocols(t, t.upstream))) {
      close(t);
      return;
    }
    await Promise.all([pipe(t, client, t.upstream, frames), pipe(t, t.upstream, client, null)]);
    close(t);
  };

  /**
   * Relays the answer to a connection's upgrade request and says whether it is a 101. Any other answer
   * (a 401, a 404) is the connection's last: relayed whole (Content-Length or chunked), and nothing more
   * the client sends is passed on, so the connection cannot go on as a keep-alive that upgrades later
   * unmeasured. (Deno.serve does not close a connection for a `Connection: close` response header.)
   */
  const switchedProtocols = async (t: Tracked, upstream: Deno.Conn): Promise<boolean> => {
    const answer = await readHead(t, upstream);
    if (answer === null) return false;
    const head = new TextDecoder().decode(answer.bytes.subarray(0, answer.end));
    const switched = /^HTTP\/1\.1 101 /.test(head);
    try {
      await writeAll(t.client, answer.bytes);
      if (switched) return true;
      const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
      const chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
      let body = answer.bytes.subarray(answer.end);
      let left = length === null ? 0 : Number(length[1]) - body.length;
      const buf = new Uint8Array(16 * 1024);
      while (length !== null ? left > 0 : chunked && !endsChunked(body)) {
        const n = await upstream.read(buf);
        if (n === null) break;
        t.lastIo = Date.now();
        await writeAll(t.client, buf.subarray(0, n));
        left -= n;
        if (chunked) body = concatTail(body, buf.subarray(0, n));
      }
    } catch { /* the client went away: the connection is closed either way */ }
    return false;
  };

  // Counting /proc/self/fd is O(descriptors): done at most every FD_COUNT_MS while accepting (not per
  // accept, which near the cap made each accept cost a directory read of a thousand entries), with the
  // connections accepted since added at FDS_PER_CONNECTION each; re-counted while waiting near the limit.
  let counted = 0, countedAt = 0, acceptedSinceCount = 0;
  const descriptorsInUse = async (fresh: boolean): Promise<number> => {
    if (fresh || Date.now() - countedAt > FD_COUNT_MS) {
      counted = await openFiles();
      countedAt = Date.now();
      acceptedSinceCount = 0;
    }
    return counted + acceptedSinceCount * FDS_PER_CONNECTION;
  };

  const accepting = (async () => {
    while (!stopping) {
      let client: Deno.Conn;
      try {
        client = await listener.accept();
      } catch (e) {
        if (stopping || e instanceof Deno.errors.BadResource) break;
        // Out of descriptors (EMFILE) or similar: free one and breathe instead of dying.
        warn("accept failed; closing the quietest connection", { error: (e as Error).message, open: live.size });
        evictQuietest();
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      if (live.size >= maxConnections) {
        warn("connection cap reached; closing the quietest connection", { maxConnections });
        evictQuietest();
      }
      void handle(client);
      // Closed connections give their descriptors back a moment later (Deno.serve sees the end of
      // each): near the limit, wait for that before accepting more. Those not yet accepted wait in the
      // kernel's listen queue, which costs this process nothing.
      acceptedSinceCount++;
      if (live.size > maxConnections / 2) {
        for (let i = 0; i < 200 && !stopping && (await descriptorsInUse(i > 0)) > fdLimit - FD_RESERVE / 2; i++) {
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    }
  })();

  return {
    maxConnections,
    open: () => live.size,
    async shutdown() {
      stopping = true;
      try {
        listener.close();
      } catch { /* closed */ }
      await accepting;
      await Promise.all(inners.map((inner) => inner.shutdown()));
      // Deno.serve has answered and closed its ends; give the last responses a moment to get through.
      for (let i = 0; i < 100 && live.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
      clearInterval(sweep);
      for (const t of [...live]) close(t);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function writeAll(to: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await to.write(bytes.subarray(off));
}

/** True when a chunked body ends in `bytes` (its last chunk, with no trailers). */
function endsChunked(bytes: Uint8Array): boolean {
  return new TextDecoder().decode(bytes.subarray(Math.max(0, bytes.length - 5))) === "0\r\n\r\n";
}

/** The last few bytes of `a` then `b`: enough to see a chunked body's end across reads. */
function concatTail(a: Uint8Array, b: Uint8Array): Uint8Array {
  const both = new Uint8Array(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  return both.subarray(Math.max(0, both.length - 16));
}

/** True when the request asks to become a WebSocket. */
function isUpgrade(req: Request): boolean {
  return (req.headers.get("upgrade") ?? "").toLowerCase() === "websocket";
}

/** The handler behind the HTTP socket: a connection that did not open with an upgrade cannot upgrade. */
function refusingUpgrades(handler: Deno.ServeHandler): Deno.ServeHandler {
  return (req, info) => {
    if (!isUpgrade(req)) return handler(req, info);
    return Response.json({
      error: {
        code: "bad_request",
        message: "A WebSocket upgrade must be the first request on its connection: open a new connection for it",
      },
    }, { status: 400 });
  };
}

/** Index just past the first "\r\n\r\n" at or after `from`, or -1. */
function headerEnd(bytes: Uint8Array, from = 0): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i + 4;
  }
  return -1;
}

/** The message size limit when `head` asks for a WebSocket upgrade, else null. */
function webSocketLimit(head: string): number | null {
  if (!/\r\nupgrade:[ \t]*websocket/i.test(head)) return null;
  const path = /^GET (\S+)/.exec(head)?.[1] ?? "";
  return /^\/v1\/workers\/stream(\?|$)/.test(path) ? MAX_WORKER_MESSAGE : MAX_SUBSCRIBER_MESSAGE;
}

/**
 * Follows the client's WebSocket frames (RFC 6455 §5.2) through a byte stream and says when a message
 * (the payloads of its frames up to FIN) grows past `limit`. It reads only frame headers; payloads are
 * skipped over, so it costs nothing per byte.
 */
export class FrameLimiter {
  #head: number[] = [];
  #remaining = 0;
  #message = 0;
  #fin = false;
  #data = false;
  over = false;

  constructor(readonly limit: number) {}

  /** Feeds the next bytes; false once a message is over the limit. */
  accept(bytes: Uint8Array): boolean {
    let i = 0;
    while (i < bytes.length && !this.over) {
      if (this.#remaining > 0) {
        const skip = Math.min(this.#remaining, bytes.length - i);
        this.#remaining -= skip;
        i += skip;
        if (this.#remaining === 0) this.#frameDone();
        continue;
      }
      this.#head.push(bytes[i++]!);
      const h = this.#head;
      if (h.length < 2) continue;
      const code = h[1]! & 0x7f;
      const need = 2 + (code === 126 ? 2 : code === 127 ? 8 : 0) + ((h[1]! & 0x80) !== 0 ? 4 : 0);
      if (h.length < need) continue;
      let length = code;
      if (code === 126) length = (h[2]! << 8) | h[3]!;
      if (code === 127) {
        // Anything needing the top four bytes is far past any limit.
        length = h.slice(2, 6).some((b) => b !== 0) ? Infinity : ((h[6]! << 24) >>> 0) + (h[7]! << 16) + (h[8]! << 8) + h[9]!;
      }
      this.#fin = (h[0]! & 0x80) !== 0;
      this.#data = (h[0]! & 0x0f) < 8; // text, binary or continuation; control frames are tiny
      this.#head = [];
      if (this.#data) {
        this.#message += length;
        if (this.#message > this.limit) this.over = true;
      }
      this.#remaining = this.over ? 0 : length;
      if (this.#remaining === 0 && !this.over) this.#frameDone();
    }
    return !this.over;
  }

  #frameDone(): void {
    if (this.#data && this.#fin) this.#message = 0;
  }
}

/** Descriptors open in this process now (Linux; elsewhere 0: the cap alone then bounds them). */
async function openFiles(): Promise<number> {
  let n = 0;
  try {
    for await (const _ of Deno.readDir("/proc/self/fd")) n++;
  } catch {
    return 0;
  }
  return n;
}

/** The soft limit on open files (RLIMIT_NOFILE) from /proc; a conservative 1024 where there is none. */
async function openFileLimit(): Promise<number> {
  const text = await Deno.readTextFile("/proc/self/limits").catch(() => "");
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (m === null) return 1024;
  return m[1] === "unlimited" ? 1 << 20 : Number(m[1]);
}
