/**
 * The live-stream endpoints as a Hono sub-app, mounted by the API under /v1:
 *
 * - `GET /v1/runs/:id/stream?after=<seq>`  WebSocket, `read` scope: replay after `after`, then live;
 *   closes 1000 after the run's terminal state.
 * - `GET /v1/stream[?sweep=<id>]`          WebSocket, `read` scope: every run's (or a sweep's) live events.
 * - `GET /v1/runs/:id/events`              Server-Sent Events, `read` scope, resumes from Last-Event-ID
 *   (or ?after=); 204 when the run is over and the client has all of it (EventSource then stops).
 * - `GET /v1/workers/stream`               WebSocket, `worker` scope: workers push committed events
 *   and progress.
 *
 * Every refusal (401, 403, 404, 400, 503) happens before the upgrade.
 *
 * @example
 * ```ts
 * const hub = new StreamHub({ sql, log });
 * await hub.start();
 * app.route("/", createStreamRoutes({ sql, hub, allowedOrigins: config.ALLOWED_ORIGINS, log }));
 * ```
 */
import { Hono } from "hono";
import type postgres from "postgres";
import { z } from "zod";
import { isTerminalState } from "../../shared/run-states.ts";
import { workerMessageSchema } from "../../shared/stream-messages.ts";
import { AppError } from "../app-error.ts";
import type { Logger } from "../../shared/logger.ts";
import { authorizeStream, lookupApiToken, validTokenHashes } from "./authorize-stream.ts";
import { MultiRunSubscriber } from "./multi-run-subscriber.ts";
import { readRunEvents, readRunInfo } from "./read-run-events.ts";
import { RunSubscriber } from "./run-subscriber.ts";
import type { StreamHub } from "./stream-hub.ts";
import { type StreamLimits, streamLimits } from "./stream-limits.ts";
import { TokenWatch } from "./token-watch.ts";
import {
  CLOSE,
  sseTransport,
  type StreamTransport,
  webSocketTransport,
  whenNeverOpened,
} from "./stream-transport.ts";
import { STREAM_PATHS } from "./stream-route-docs.ts";

export interface StreamRoutesDeps {
  sql: postgres.Sql;
  /** Started by the caller (`await hub.start()`), closed by it on shutdown. */
  hub: StreamHub;
  /** Browser origins besides the API's own that may open streams ("*" for any). */
  allowedOrigins?: readonly string[];
  limits?: Partial<StreamLimits>;
  log?: Logger;
}

const uuid = z.uuid();
const seqParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export function createStreamRoutes(deps: StreamRoutesDeps): Hono {
  const app = new Hono();
  const limits = streamLimits(deps.limits);
  const log: Logger = deps.log ?? (() => {});
  // Admission and the periodic re-check both read api_tokens: the same rule, by hash.
  const lookupToken = lookupApiToken(deps.sql);
  const allowedOrigins = deps.allowedOrigins ?? [];
  const readEvents = readRunEvents(deps.sql);
  const readInfo = readRunInfo(deps.sql);
  const { hub } = deps;
  // Open streams are watched by their token's hash: the plaintext token is not kept past the upgrade.
  const tokens = new TokenWatch({
    stillValid: validTokenHashes(deps.sql),
    intervalMs: limits.tokenRecheckMs,
    onError: (e) =>
      log("warn", "cannot re-check the tokens of open streams", { error: (e as Error).message }),
  });
  hub.onClose(() => tokens.stop());
  const REVOKED = "the token was revoked or has expired";
  /**
   * Closes a WebSocket when its token stops being valid; forgets it when the socket closes, or when
   * it never opens (`onNeverOpened` runs then too).
   */
  const watchSocket = (
    tokenHash: string,
    socket: WebSocket,
    transport: StreamTransport,
    onNeverOpened = () => {},
  ) => {
    const unwatch = tokens.add(tokenHash, () => transport.close(CLOSE.policy, REVOKED));
    socket.addEventListener("close", unwatch);
    whenNeverOpened(socket, limits.pingIntervalS * 1000, () => {
      unwatch();
      onNeverOpened();
    });
  };

  // Refusals in the API's one error shape, also when this sub-app runs on its own (tests); anything
  // else goes on to the app's own onError.
  app.onError((err) => {
    if (!(err instanceof AppError)) throw err;
    return Response.json(err.toBody(), { status: err.status, headers: err.headers });
  });

  const admit = async (req: Request, scope: "read" | "worker") => {
    const auth = await authorizeStream(req, { lookupToken, allowedOrigins, scope });
    if (hub.closed) throw new AppError("unavailable", "the server is shutting down");
    if (hub.subscriberCount() >= limits.maxSubscribers) {
      throw new AppError(
        "unavailable",
        `this instance serves its maximum of ${limits.maxSubscribers} streams`,
      );
    }
    return auth;
  };

  const runIdParam = (raw: string | undefined) => {
    const parsed = uuid.safeParse(raw);
    if (!parsed.success) throw new AppError("not_found", `run ${JSON.stringify(raw ?? "")} does not exist`);
    return parsed.data.toLowerCase();
  };

  const afterParam = (raw: string | undefined, what: string) => {
    if (raw === undefined || raw === "") return 0;
    const parsed = seqParam.safeParse(raw);
    if (!parsed.success) {
      throw new AppError("bad_request", `${what} must be a whole number ≥ 0, found ${JSON.stringify(raw)}`);
    }
    return parsed.data;
  };

  const requireUpgrade = (req: Request) => {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      throw new AppError("bad_request", "this endpoint is a WebSocket: send 'Upgrade: websocket'", {
        headers: { Upgrade: "websocket" },
      });
    }
  };

  app.get(STREAM_PATHS.run, async (c) => {
    const req = c.req.raw;
    const runId = runIdParam(c.req.param("id"));
    const after = afterParam(c.req.query("after"), "after");
    requireUpgrade(req);
    const { protocol, tokenHash } = await admit(req, "read");
    if ((await readInfo(runId)) === null) throw new AppError("not_found", `run ${runId} does not exist`);
    const { socket, response } = upgrade(req, protocol, limits);
    const transport = webSocketTransport(socket);
    watchSocket(tokenHash, socket, transport);
    const sub = new RunSubscriber({ runId, after, hub, transport, limits, readEvents, readInfo, log });
    socket.onopen = () => void sub.start();
    socket.onclose = () => sub.dispose();
    socket.onerror = () => sub.dispose();
    return response;
  });

  app.get(STREAM_PATHS.runEvents, async (c) => {
    const req = c.req.raw;
    const runId = runIdParam(c.req.param("id"));
    const after = afterParam(c.req.header("last-event-id") ?? c.req.query("after"), "Last-Event-ID / after");
    const { tokenHash } = await admit(req, "read");
    const info = await readInfo(runId);
    if (info === null) throw new AppError("not_found", `run ${runId} does not exist`);
    if (isTerminalState(info.state) && after >= info.lastSeq) {
      return new Response(null, { status: 204 });
    }
    let sub: RunSubscriber | undefined;
    let unwatch = () => {};
    const { transport, body } = sseTransport({
      highWaterMark: limits.maxBufferedBytes,
      heartbeatMs: limits.sseHeartbeatMs,
      onCancel: () => {
        unwatch();
        sub?.dispose();
      },
    });
    unwatch = tokens.add(tokenHash, () => {
      sub?.dispose();
      transport.close(CLOSE.policy, REVOKED);
    });
    sub = new RunSubscriber({ runId, after, hub, transport, limits, readEvents, readInfo, log });
    // A client that goes away cancels the body stream (onCancel above); a dead one fails a heartbeat.
    void sub.start();
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        // Proxies such as nginx would otherwise hold events back.
        "x-accel-buffering": "no",
      },
    });
  });

  app.get(STREAM_PATHS.runs, async (c) => {
    const req = c.req.raw;
    const sweep = c.req.query("sweep");
    let sweepId: string | null = null;
    if (sweep !== undefined) {
      const parsed = uuid.safeParse(sweep);
      if (!parsed.success) throw new AppError("not_found", `sweep ${JSON.stringify(sweep)} does not exist`);
      sweepId = parsed.data.toLowerCase();
    }
    requireUpgrade(req);
    const { protocol, tokenHash } = await admit(req, "read");
    if (sweepId !== null) {
      const [row] = await deps.sql`select 1 from sweeps where id = ${sweepId}`;
      if (row === undefined) throw new AppError("not_found", `sweep ${sweepId} does not exist`);
    }
    const { socket, response } = upgrade(req, protocol, limits);
    const transport = webSocketTransport(socket);
    const sub = new MultiRunSubscriber({ sweepId, hub, transport, limits });
    watchSocket(tokenHash, socket, transport, () => sub.dispose());
    // Live only, from the moment the client sees the socket open: subscribed now, before the 101 goes
    // out (the transport holds what comes before the socket opens). Subscribed in onopen, an event
    // committed right after the client's open could reach the hub first and be missed.
    sub.start();
    socket.onclose = () => sub.dispose();
    socket.onerror = () => sub.dispose();
    return response;
  });

  app.get(STREAM_PATHS.worker, async (c) => {
    const req = c.req.raw;
    requireUpgrade(req);
    const { protocol, tokenHash } = await admit(req, "worker");
    const { socket, response } = upgrade(req, protocol, limits);
    const transport = webSocketTransport(socket);
    // On shutdown the worker reconnects (to another instance, or to this one once it is back).
    const forget = hub.onClose(() => transport.close(CLOSE.goingAway, "the server is shutting down"));
    watchSocket(tokenHash, socket, transport, forget);
    socket.onclose = () => forget();
    let invalid = 0;
    socket.onmessage = (e) => {
      if (typeof e.data !== "string") return;
      let parsed;
      try {
        parsed = workerMessageSchema.safeParse(JSON.parse(e.data));
      } catch {
        parsed = null;
      }
      if (parsed?.success) {
        hub.fromWorker(parsed.data);
        return;
      }
      // A worker running another version: its durable events still arrive through NOTIFY.
      if (invalid++ === 0) {
        log("warn", "ignoring an invalid message from a worker", {
          issues: parsed
            ? parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`)
            : "not JSON",
        });
      }
    };
    return response;
  });

  return app;
}

/** Deno's upgrade with the subprotocol echoed only when the client offered one, and pings on. */
function upgrade(req: Request, protocol: string | undefined, limits: StreamLimits) {
  return Deno.upgradeWebSocket(req, {
    ...(protocol === undefined ? {} : { protocol }),
    idleTimeout: limits.pingIntervalS,
  });
}
