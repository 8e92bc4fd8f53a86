/**
 * A live-stream subscriber that behaves like a careful client: it follows GET /v1/runs/:id/stream and,
 * when the socket drops for any reason but the normal end (1000 after the terminal state), connects
 * again with `?after=<last durable seq>`. Every message is kept, so a test can check that each durable
 * event arrived exactly once across reconnects.
 *
 * @example
 * const f = followRun(apiUrl, token, runId);
 * await f.finished;
 * assert.deepEqual(f.durable().filter((m) => m.type === "epoch").map((m) => m.epoch), [1, 2, 3]);
 */
import WebSocket from "ws";

export interface FollowedRun {
  messages: Record<string, unknown>[];
  /** Messages other than `progress` (those are not durable and carry the last durable seq). */
  durable(): Record<string, unknown>[];
  /** How many times the socket was opened again. */
  reconnects(): number;
  /** Resolves when the server ends the stream normally (1000). */
  finished: Promise<void>;
  stop(): void;
}

export function followRun(apiUrl: string, token: string, runId: string): FollowedRun {
  const messages: Record<string, unknown>[] = [];
  let lastSeq = 0;
  let opens = 0;
  let stopped = false;
  let socket: WebSocket | null = null;
  const durable = () => messages.filter((m) => m.type !== "progress");
  const finished = new Promise<void>((resolve) => {
    const connect = () => {
      if (stopped) return;
      opens++;
      socket = new WebSocket(`${apiUrl.replace("http:", "ws:")}/v1/runs/${runId}/stream?after=${lastSeq}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      socket.on("message", (data) => {
        const m = JSON.parse(String(data)) as Record<string, unknown>;
        messages.push(m);
        if (m.type !== "progress" && typeof m.seq === "number") lastSeq = Math.max(lastSeq, m.seq);
      });
      socket.on("error", () => {}); // a 'close' follows
      socket.on("close", (code) => {
        if (code === 1000) resolve();
        else setTimeout(connect, 250);
      });
    };
    connect();
  });
  return {
    messages,
    durable,
    reconnects: () => Math.max(0, opens - 1),
    finished,
    stop: () => {
      stopped = true;
      socket?.terminate();
    },
  };
}
