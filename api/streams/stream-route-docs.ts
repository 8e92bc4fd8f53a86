/**
 * The live-stream endpoints as route declarations, for `/openapi.json` and the router's 405s. Their
 * handlers are in create-stream-routes.ts (they authenticate before a WebSocket upgrade, which the
 * router's JSON pipeline does not do); test/stream-app.deno.test.ts checks that every declared stream
 * endpoint is served.
 */
import { z } from "zod";
import { STREAM_PROTOCOL, streamMessageSchema, workerMessageSchema } from "../../shared/stream-messages.ts";
import type { AnyRouteSpec } from "../http/router.ts";

/** Where each stream is served: create-stream-routes.ts serves these paths and the docs below name them. */
export const STREAM_PATHS = {
  run: "/v1/runs/:id/stream",
  runEvents: "/v1/runs/:id/events",
  runs: "/v1/stream",
  worker: "/v1/workers/stream",
} as const;

const after = z.object({
  after: z.coerce.number().int().min(0).optional()
    .describe("replay stored events with a seq above this one first (default 0: all of them)"),
});
const webSocket = `A WebSocket (offer the subprotocol \`${STREAM_PROTOCOL}\`; a browser passes its token as a second ` +
  "subprotocol `bearer.<token>`). Every frame is one JSON message, described by the schema.";
const refusals = { 404: { description: "No such run or sweep" }, 503: { description: "Postgres unreachable" } };

export const STREAM_ROUTE_DOCS: readonly AnyRouteSpec[] = [
  {
    method: "get",
    path: STREAM_PATHS.run,
    operationId: "streamRun",
    summary: "Follow one run live (WebSocket)",
    description: "Replays the run's stored events after `after`, then goes live with no gap or duplicate; " +
      "progress messages between epochs; closes 1000 after the run's final state.",
    tag: "streams",
    scope: "read",
    query: after,
    responses: { 101: { description: webSocket, schema: streamMessageSchema }, ...refusals },
  },
  {
    method: "get",
    path: STREAM_PATHS.runEvents,
    operationId: "streamRunEvents",
    summary: "Follow one run live (Server-Sent Events)",
    description: "Resumes from `Last-Event-ID` (or `after`); each event's data is one JSON message as on the WebSocket.",
    tag: "streams",
    scope: "read",
    query: after,
    headers: [{ name: "Last-Event-ID", description: "the seq of the last event received (EventSource sends it)" }],
    responses: {
      200: { description: "An event stream", alternatives: ["text/event-stream"] },
      204: { description: "The run is over and the client has all of it (EventSource then stops)" },
      ...refusals,
    },
  },
  {
    method: "get",
    path: STREAM_PATHS.runs,
    operationId: "streamRuns",
    summary: "Follow every run, or a sweep's runs, live (WebSocket)",
    tag: "streams",
    scope: "read",
    query: z.object({ sweep: z.uuid().optional().describe("only this sweep's runs") }),
    responses: { 101: { description: webSocket, schema: streamMessageSchema }, ...refusals },
  },
  {
    method: "get",
    path: STREAM_PATHS.worker,
    operationId: "workerStream",
    summary: "A worker's socket: it pushes committed events and progress (WebSocket)",
    tag: "streams",
    scope: "worker",
    responses: { 101: { description: `${webSocket} (frames sent by the worker)`, schema: workerMessageSchema } },
  },
];
