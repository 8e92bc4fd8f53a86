/**
 * What a subscriber writes to: a WebSocket or an SSE response. Both queue without blocking and report
 * how much is queued, which is what backpressure decisions are made on.
 */
export interface StreamTransport {
  /**
   * Queues one message; never blocks, never throws. `id` is the seq of a durable event (SSE sends it
   * as the event id) and null for progress and error messages.
   */
  send(text: string, id: number | null): void;
  /** Bytes queued and not yet written to the network. */
  bufferedAmount(): number;
  /** Ends the stream; `code` is a WebSocket close code (SSE just ends). */
  close(code: number, reason: string): void;
}

/** WebSocket close codes the streams use. */
export const CLOSE = {
  /** The run reached a terminal state (or the client asked). */
  normal: 1000,
  /** The server is shutting down. */
  goingAway: 1001,
  /** The worker sent something that is not a worker message. */
  policy: 1008,
  internal: 1011,
  /** The subscriber cannot keep up ("try again later"): resume with ?after=<last seq>. */
  tryAgainLater: 1013,
} as const;

/**
 * A WebSocket as a transport (Deno's server-side socket or any standard WebSocket). Messages sent
 * while it is still connecting (a subscriber started with the upgrade, so that nothing committed
 * after the client saw it open is missed) are queued and sent when it opens; they count as buffered.
 * A close asked for while connecting is made after them, with its code. One transport per socket: the
 * queue is the transport's.
 */
export function webSocketTransport(socket: WebSocket): StreamTransport {
  let pending: string[] = [];
  let pendingBytes = 0;
  let closeWhenOpen: { code: number; reason: string } | null = null;
  const write = (text: string) => {
    try {
      socket.send(text);
    } catch {
      // Closing under us: the close handler cleans up.
    }
  };
  const close = (code: number, reason: string) => {
    if (socket.readyState === WebSocket.CLOSING || socket.readyState === WebSocket.CLOSED) return;
    try {
      // A close reason is at most 123 bytes.
      socket.close(code, truncateUtf8(reason, 123));
    } catch {
      // Already closed.
    }
  };
  socket.addEventListener("open", () => {
    const queued = pending;
    pending = [];
    pendingBytes = 0;
    for (const text of queued) write(text);
    if (closeWhenOpen !== null) close(closeWhenOpen.code, closeWhenOpen.reason);
  });
  return {
    send(text) {
      if (socket.readyState === WebSocket.CONNECTING) {
        if (closeWhenOpen !== null) return;
        pending.push(text);
        pendingBytes += new TextEncoder().encode(text).length;
        return;
      }
      if (socket.readyState !== WebSocket.OPEN) return;
      write(text);
    },
    bufferedAmount: () => socket.bufferedAmount + pendingBytes,
    close(code, reason) {
      if (socket.readyState === WebSocket.CONNECTING) {
        closeWhenOpen ??= { code, reason };
        return;
      }
      close(code, reason);
    },
  };
}

/**
 * Calls `onNeverOpened` when `socket` is still connecting after `ms`. A connection that dies before
 * Deno sends the 101 leaves the server's socket connecting for good, with no open, error or close
 * event: whatever waits for those (a subscriber, a token watch) must be let go this way.
 */
export function whenNeverOpened(socket: WebSocket, ms: number, onNeverOpened: () => void): void {
  if (socket.readyState !== WebSocket.CONNECTING) return;
  const timer = setTimeout(() => {
    if (socket.readyState === WebSocket.CONNECTING) onNeverOpened();
  }, ms);
  socket.addEventListener("open", () => clearTimeout(timer));
  socket.addEventListener("close", () => clearTimeout(timer));
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  return new TextDecoder().decode(bytes.subarray(0, maxBytes)).replace(/\uFFFD$/, "");
}

/**
 * A Server-Sent Events body. Durable events carry `id: <seq>` so that EventSource resumes with
 * Last-Event-ID; progress and error carry no id (the last id stays the last durable seq).
 */
export function sseTransport(opts: { highWaterMark: number; heartbeatMs: number; onCancel: () => void }): {
  transport: StreamTransport;
  body: ReadableStream<Uint8Array>;
} {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let open = true;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const end = () => {
    if (!open) return;
    open = false;
    clearInterval(heartbeat);
  };
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      heartbeat = setInterval(() => write(": ping\n\n"), opts.heartbeatMs);
    },
    cancel() {
      end();
      opts.onCancel();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: opts.highWaterMark }));
  const write = (text: string) => {
    if (!open) return;
    try {
      controller.enqueue(encoder.encode(text));
    } catch {
      end();
      opts.onCancel();
    }
  };
  const transport: StreamTransport = {
    send(text, id) {
      write(`${id === null ? "" : `id: ${id}\n`}data: ${text}\n\n`);
    },
    bufferedAmount: () => (open ? Math.max(0, opts.highWaterMark - (controller.desiredSize ?? 0)) : 0),
    close() {
      if (!open) return;
      end();
      try {
        controller.close();
      } catch {
        // Already cancelled by the client.
      }
    },
  };
  return { transport, body };
}
