/**
 * Records when a view has drawn its data: a `performance.mark("dashboard:<view>")` after the next
 * animation frame (uPlot draws in a microtask after construction), with the number of data points as
 * its detail, and the same on `document.body.dataset`. The benchmark and the tests read these.
 */
export function markRendered(view: string, points: number): void {
  requestAnimationFrame(() => {
    performance.mark(`dashboard:${view}`, { detail: { points } });
    document.body.dataset[`rendered${view[0]!.toUpperCase()}${view.slice(1)}`] = String(points);
  });
}
