/**
 * The real API process (api/main.ts on Deno) on a free port over a test database, for end-to-end tests
 * with real workers: started, waited for (`/healthz`), and stopped with SIGTERM.
 *
 * @example
 * const api = await startApi(db.url);
 * await fetch(`${api.url}/v1/runs`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body });
 * await api.stop();
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DENO_BINARY } from "../../service/deno-binary.ts";
import { freePort } from "./free-port.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ApiProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startApi(databaseUrl: string, timeoutMs = 60_000): Promise<ApiProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(DENO_BINARY, ["run", "-A", "api/main.ts", "--stop-with-parent"], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "warn" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const deadline = Date.now() + timeoutMs;
  while (!(await fetch(`${url}/healthz`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error("the API did not come up");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** POSTs a run spec; returns the new run's id (throws with the API's error body otherwise). */
export async function submitRun(apiUrl: string, token: string, spec: unknown): Promise<string> {
  const res = await fetch(`${apiUrl}/v1/runs`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(spec),
  });
  const body = await res.json() as { id?: string };
  if (res.status !== 201 || typeof body.id !== "string") throw new Error(`POST /v1/runs: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

/** Every message of a run's stream from the start (`after=0`) until the server closes it (terminal). */
export async function readRunStream(apiUrl: string, token: string, runId: string): Promise<Record<string, unknown>[]> {
  const { default: WebSocket } = await import("ws");
  const socket = new WebSocket(`${apiUrl.replace("http:", "ws:")}/v1/runs/${runId}/stream?after=0`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const messages: Record<string, unknown>[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  await new Promise<void>((resolve, reject) => {
    socket.once("close", () => resolve());
    socket.once("error", reject);
  });
  return messages;
}

export interface RunView {
  state: string;
  attempt: number;
  error: { code: string; message: string } | null;
  summary: { bestValAcc: number | null } & Record<string, unknown>;
}

/** Polls `GET /v1/runs/:id` until the run is succeeded, failed or cancelled; returns that view. */
export async function waitForRunEnd(apiUrl: string, token: string, runId: string, timeoutMs: number): Promise<RunView> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${apiUrl}/v1/runs/${runId}`, { headers: { authorization: `Bearer ${token}` } });
    const run = await res.json() as RunView;
    if (["succeeded", "failed", "cancelled"].includes(run.state)) return run;
    if (Date.now() > end) throw new Error(`run ${runId} still ${run.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
