/**
 * The one configuration schema for every process (service supervisor, API, worker, CLIs): every
 * setting, its default and its rule in one place. Parse once at start with {@link loadConfig}.
 *
 * @example
 * ```ts
 * const config = loadConfig(process.env); // or Deno.env.toObject()
 * console.log(config.PORT); // 8000
 * ```
 */
import { z } from "zod";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalText = z.string().trim().min(1).optional();

export const configSchema = z.object({
  /** Use this Postgres instead of starting an embedded one. */
  DATABASE_URL: z.string().trim().regex(/^postgres(ql)?:\/\//, "must start with postgres:// or postgresql://")
    .optional(),
  /** Where `npm start` keeps the embedded Postgres cluster, checkpoints and data sets by default. */
  DATA_DIR: z.string().trim().min(1).default(".data"),
  /** Port of the embedded Postgres started by `npm start`. */
  PG_PORT: int(1, 65535).default(54329),
  /** Restarts of the embedded Postgres tried in a row (1 s doubling to 30 s apart) before `npm start` gives up. */
  PG_RESTARTS: int(0, 100).default(5),
  HOST: z.string().trim().min(1).default("127.0.0.1"),
  PORT: int(0, 65535).default(8000),
  WORKERS: int(0, 64).default(1),
  /** API: connections open at once (lowered to what the fd limit allows); at the cap the quietest one is closed. */
  MAX_CONNECTIONS: int(1, 1_000_000).default(1024),
  /** API: seconds a new connection has to send its request's headers. */
  HEADER_TIMEOUT_S: int(1, 3600).default(10),
  /** API: seconds without a byte either way before a connection is closed (streams ping more often). */
  IDLE_TIMEOUT_S: int(5, 86_400).default(90),
  /** A token you choose for the admin: `rjt_` and at least 32 base64url characters, e.g. `rjt_$(openssl rand -hex 24)`. */
  ADMIN_TOKEN: z.string().trim().regex(
    /^rjt_[A-Za-z0-9_-]{32,512}$/,
    "must be rjt_ followed by 32 to 512 base64url characters (A-Z a-z 0-9 _ -), e.g. rjt_$(openssl rand -hex 24)",
  ).optional(),
  API_URL: z.url().optional(),
  WORKER_TOKEN: optionalText,
  BACKEND: z.enum(["auto", "tensorflow", "webgpu", "native", "wasm", "cpu"]).default("auto"),
  /** BACKEND=webgpu: Vulkan from the machine (`system`) or SwiftShader's CPU Vulkan from npm (`swiftshader`, tests). */
  WEBGPU_DRIVER: z.enum(["system", "swiftshader"]).default("system"),
  /** Threads of the native (oneDNN) backend; default: the machine's cores divided by WORKERS (see cpuThreads). */
  CPU_THREADS: int(1, 1024).optional(),
  CHECKPOINT_DIR: optionalText,
  /**
   * Where workers keep checkpoints: `postgres` (chunked rows in the run's database: any worker that
   * reaches the database resumes any run, nothing else shared) or `dir` (files under CHECKPOINT_DIR:
   * faster and no database growth, but every worker must see the same folder). Default: `dir` when
   * CHECKPOINT_DIR is set (choosing a folder is choosing files), else `postgres`. Resolve with
   * {@link checkpointStoreKind}.
   */
  CHECKPOINT_STORE: z.enum(["postgres", "dir"]).optional(),
  CIFAR10_DIR: optionalText,
  /** Where a worker fetches CIFAR-10 from on first use (and its md5): tests point it at a local server. */
  CIFAR10_URL: z.url().optional(),
  CIFAR10_MD5: z.string().trim().regex(/^[0-9a-fA-F]{32}$/, "must be 32 hex digits").optional(),
  /** Fashion-MNIST's folder (default DATA_DIR/fashion-mnist); fetched into it on first use. */
  FASHION_MNIST_DIR: optionalText,
  /** Read when FASHION_MNIST_DIR lacks the files: Debian's `dataset-fashion-mnist` (tests point it elsewhere). */
  FASHION_MNIST_SYSTEM_DIR: z.string().trim().default("/usr/share/datasets/fashion-mnist"),
  /** The folder URL the four Fashion-MNIST files are fetched from, and their md5s (comma-separated). */
  FASHION_MNIST_URL: z.url().optional(),
  FASHION_MNIST_MD5: z.string().trim()
    .regex(/^([0-9a-fA-F]{32},){3}[0-9a-fA-F]{32}$/, "must be four md5s (train images, train labels, test images, test labels), comma-separated")
    .optional(),
  LEASE_S: int(2, 3600).default(30),
  HEARTBEAT_S: int(1, 600).default(10),
  POLL_MS: int(10, 600_000).default(2000),
  /** The lowest level written, by every process (the service, the API, the workers). */
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /**
   * `json`: one JSON object per line (time, level, msg, fields), for log shippers. `text`: time, level
   * when not info, the process, message and fields as key=value, for a terminal. Default: the API writes
   * json, the service and the workers text.
   */
  LOG_FORMAT: z.enum(["json", "text"]).optional(),
  /**
   * Live streams: browser origins, besides the API's own, whose pages may open a stream (comma-separated,
   * e.g. "https://dash.example.org"; "*" allows any). Pages from other origins are refused with 403.
   */
  ALLOWED_ORIGINS: z.string().trim().default("").transform((s) => s.split(",").map((o) => o.trim()).filter((o) => o !== "")),
});

export type Config = z.output<typeof configSchema>;

/**
 * The lease timings' rule, checked only by the processes that run workers (a worker, `npm start` with
 * WORKERS > 0): the API and the CLIs do not heartbeat, so a bad pair must not stop them from starting.
 */
const workerTimingsSchema = configSchema.pick({ LEASE_S: true, HEARTBEAT_S: true }).refine(
  (c) => c.HEARTBEAT_S < c.LEASE_S,
  { path: ["HEARTBEAT_S"], message: "must be less than LEASE_S, or every lease expires between two heartbeats" },
);

/** Throws a {@link ConfigError} naming HEARTBEAT_S when it is not below LEASE_S. */
export function checkWorkerTimings(env: Record<string, string | undefined>): void {
  parseEnv(workerTimingsSchema, env);
}

/** CHECKPOINT_STORE with its default applied (see the schema). */
export function checkpointStoreKind(config: Pick<Config, "CHECKPOINT_STORE" | "CHECKPOINT_DIR">): "postgres" | "dir" {
  return config.CHECKPOINT_STORE ?? (config.CHECKPOINT_DIR === undefined ? "postgres" : "dir");
}

/**
 * The native backend's thread count: CPU_THREADS, else the machine's cores shared out among the
 * WORKERS that `npm start` runs on it (at least 1), so that workers do not fight over cores.
 *
 * @example
 * cpuThreads({ WORKERS: 2 }, 8); // 4
 */
export function cpuThreads(config: { CPU_THREADS?: number | undefined; WORKERS: number }, cores: number): number {
  return config.CPU_THREADS ?? Math.max(1, Math.floor(cores / Math.max(1, config.WORKERS)));
}

/** Thrown by {@link loadConfig}; its message lists every bad variable with its rule. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses the environment; empty strings count as unset, unknown variables are ignored. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  return parseEnv(configSchema, env);
}

/**
 * Parses the variables named by `schema`'s keys out of `env` (empty strings count as unset); throws a
 * {@link ConfigError} listing every bad variable with its rule and value. Shared by every process's
 * settings so that they all fail the same clear way.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: Record<string, string | undefined>): z.output<S> {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== "") picked[key] = value;
  }
  const result = schema.safeParse(picked);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) =>
    `  ${i.path.join(".")}: ${i.message} (got ${JSON.stringify(picked[String(i.path[0])] ?? null)})`
  );
  throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
}
