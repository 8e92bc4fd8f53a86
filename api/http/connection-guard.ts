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
  const socketPath = `${dir}/http.sock`;
  const inner = Deno.serve({ path: socketPath, onListen: () => {} }, handler);
  inner.finished.catch((e) => {
    // Should the server behind us fail after all, say so and exit: the supervisor starts a fresh one.
    opts.log?.("warn", "HTTP server failed", { error: (e as Error).message });
    Deno.exit(1);
  });
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
   * From the client it also watches the first request's head (the header timeout) and, when that is a
   * WebSocket upgrade, the frames after it: Deno accepts messages up to 64 MiB and holds each whole in
   * memory, so a message over the path's limit closes the connection before its payload is passed on.
   */
  const pipe = async (t: Tracked, from: Deno.Conn, to: Deno.Conn, fromClient: boolean) => {
    const buf = new Uint8Array(16 * 1024);
    let head = new Uint8Array(0);
    let frames: FrameLimiter | null = null;
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        t.lastIo = Date.now();
        const chunk = buf.subarray(0, n);
        if (fromClient && !t.headersDone) {
          const seen = new Uint8Array(head.length + n);
          seen.set(head);
          seen.set(chunk, head.length);
          const end = headerEnd(seen);
          if (end < 0) {
            if (seen.length > MAX_HEAD) break;
            head = seen;
          } else {
            t.headersDone = true;
            const limit = webSocketLimit(new TextDecoder().decode(seen.subarray(0, end)));
            if (limit !== null) {
              frames = new FrameLimiter(limit);
              // Frames sent right behind the upgrade request are in this same read.
              if (!frames.accept(seen.subarray(end))) break;
            }
          }
        } else if (frames !== null && !frames.accept(chunk)) {
          break;
        }
        for (let off = 0; off < n;) off += await to.write(chunk.subarray(off));
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

  const handle = async (client: Deno.Conn) => {
    const now = Date.now();
    const t: Tracked = { client, upstream: null, openedAt: now, lastIo: now, headersDone: false, closed: false };
    live.add(t);
    try {
      t.upstream = await Deno.connect({ transport: "unix", path: socketPath });
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
    await Promise.all([pipe(t, client, t.upstream, true), pipe(t, t.upstream, client, false)]);
    close(t);
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
      await inner.shutdown();
      // Deno.serve has answered and closed its ends; give the last responses a moment to get through.
      for (let i = 0; i < 100 && live.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
      clearInterval(sweep);
      for (const t of [...live]) close(t);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Index just past the first "\r\n\r\n", or -1. */
function headerEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
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
