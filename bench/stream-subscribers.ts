// Child process of bench/stream-latency.ts: opens N WebSocket subscribers on one run and records when
// each durable message arrives (CLOCK_MONOTONIC in ms, the same clock for every process on
// one machine). Driven over IPC: { cmd: "report" } → { received: [seq, time][] per subscriber }.
import WebSocket from "ws";

const [base, token, runId, n, after] = process.argv.slice(2) as [string, string, string, string, string];
// CLOCK_MONOTONIC: one clock for every process on the machine (timeOrigin can be off by milliseconds).
const now = () => Number(process.hrtime.bigint()) / 1e6;
const subs: { socket: WebSocket; received: [number, number][] }[] = [];
for (let start = 0; start < Number(n); start += 200) {
  await Promise.all(Array.from({ length: Math.min(200, Number(n) - start) }, () =>
    new Promise<void>((resolve, reject) => {
      const socket = new WebSocket(`ws://${base}/v1/runs/${runId}/stream?after=${after}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const sub = { socket, received: [] as [number, number][] };
      socket.on("message", (data) => {
        const t = now();
        const text = String(data);
        // The envelope comes first ({"type":"…","runId":"…","seq":N): no full parse on the hot path.
        if (text.startsWith('{"type":"progress"')) return;
        const m = /"seq":(\d+)/.exec(text);
        if (m) sub.received.push([Number(m[1]), t]);
      });
      socket.once("open", () => resolve());
      socket.once("error", reject);
      subs.push(sub);
    })));
}
process.send!({ ready: true });
process.on("message", (msg: { cmd: string }) => {
  if (msg.cmd === "count") process.send!({ count: subs.reduce((s, x) => s + x.received.length, 0) });
  if (msg.cmd === "report") {
    process.send!({ received: subs.map((s) => s.received) }, () => {
      for (const s of subs) s.socket.terminate();
      process.exit(0);
    });
  }
});
