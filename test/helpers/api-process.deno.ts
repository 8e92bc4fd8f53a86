/**
 * `api/main.ts` as its own Deno process (as `npm start` runs it) on a free port, for tests that need the
 * real server: real sockets, its own fd limit (`fdLimit` runs it under `ulimit -n`), its memory (RSS
 * read from /proc). Deno only.
 */
export interface ApiProcess {
  url: string;
  port: number;
  pid: number;
  child: Deno.ChildProcess;
  output(): string;
  exited: Promise<Deno.CommandStatus>;
  /** Resident set size of the API process now, in bytes (VmRSS), or null once it exited. */
  rss(): number | null;
  /** Highest RSS the process ever had (VmHWM), in bytes. */
  peakRss(): number | null;
  stop(): Promise<void>;
}

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export async function startApiProcess(
  opts: { databaseUrl: string; env?: Record<string, string>; fdLimit?: number },
): Promise<ApiProcess> {
  const root = new URL("../..", import.meta.url).pathname;
  const port = freePort();
  const deno = `"${Deno.execPath()}" run -A api/main.ts`;
  const command = opts.fdLimit !== undefined ? `ulimit -n ${opts.fdLimit} && exec ${deno}` : `exec ${deno}`;
  const child = new Deno.Command("sh", {
    args: ["-c", command],
    cwd: root,
    env: { DATABASE_URL: opts.databaseUrl, HOST: "127.0.0.1", PORT: String(port), LOG_LEVEL: "info", ...opts.env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk);
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const exited = child.status.then(async (s) => (await pumped, s));
  for (let i = 0; i < 600 && !text.includes('"msg":"listening"'); i++) {
    const done = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 50))]);
    if (done) throw new Error(`api/main.ts exited before listening:\n${text}`);
  }
  if (!text.includes('"msg":"listening"')) throw new Error(`api/main.ts did not start:\n${text}`);
  const status = (field: string): number | null => {
    try {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(Deno.readTextFileSync(`/proc/${child.pid}/status`));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    child,
    output: () => text,
    exited,
    rss: () => status("VmRSS"),
    peakRss: () => status("VmHWM"),
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await exited;
    },
  };
}
