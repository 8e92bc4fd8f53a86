import { sweepRequestSchema, sweepViewSchema } from "../../shared/api-schemas.ts";
import { AppError } from "../app-error.ts";
import type { RouteDeps } from "../create-app.ts";
import { createSweep, getSweep } from "../db/sweeps-repo.ts";
import { type Router, uuidParam } from "../http/router.ts";
import { expandSweep } from "../sweeps/expand-sweep.ts";

export function sweepsRoutes(router: Router, deps: RouteDeps): void {
  router.add({
    method: "post",
    path: "/v1/sweeps",
    operationId: "createSweep",
    summary: "Submit a sweep: a base spec and a grid of values, expanded into runs",
    description:
      "`grid` maps dotted spec paths (`optimizer.lambda`, `schedule`, `data.seed`) to lists of values; the sweep " +
      "is their cross product (first path slowest), each point `repeat` times with data.seed + 0, 1, …. Every " +
      "expanded spec is validated before any run is created: one invalid spec fails the whole sweep (422, issues " +
      "at `grid.<path>.<index>` or `base.<path>`). At most 1000 runs.",
    tag: "sweeps",
    scope: "submit",
    body: sweepRequestSchema,
    responses: { 201: { description: "The sweep and its runs", schema: sweepViewSchema } },
  }, async (c, { body }) => {
    const expanded = expandSweep(body);
    if (!expanded.ok) {
      throw new AppError(
        "validation_failed",
        "the sweep does not expand into valid run specs; no run was created",
        {
          issues: expanded.issues,
        },
      );
    }
    const id = await createSweep(deps.db, body, expanded.specs);
    const sweep = await getSweep(deps.db, id);
    c.header("Location", `/v1/sweeps/${id}`);
    return c.json(sweep!, 201);
  });

  router.add({
    method: "get",
    path: "/v1/sweeps/:id",
    operationId: "getSweep",
    summary: "Get a sweep with every run's state and summary figures",
    tag: "sweeps",
    scope: "read",
    responses: {
      200: { description: "The sweep", schema: sweepViewSchema },
      404: { description: "No such sweep" },
    },
  }, async (c) => {
    const id = uuidParam(c, "id", "sweep");
    const sweep = await getSweep(deps.db, id);
    if (sweep === null) throw new AppError("not_found", `sweep ${id} does not exist`);
    return c.json(sweep, 200);
  });
}
