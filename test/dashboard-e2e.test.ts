// The dashboard end to end, in Debian's headless Chromium against the real API (Deno, live streams),
// a real Postgres and two real workers with the fake trainer: submit a tiny synthetic run from the
// form, watch its charts gain a point per epoch, see the threshold epoch appear in the runs table live,
// cancel a second run, submit a sweep and see its heat map; keyboard use; screenshots checked non-blank;
// no console errors throughout.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { parseRunSpec } from "../shared/run-spec.ts";
import { type DashboardHarness, startDashboardHarness } from "./dashboard-harness.ts";

let h: DashboardHarness;
// valAcc of the fake trainer is 1 − 0.92·e^(−epoch/3): 0.34, 0.53, 0.66, 0.76, 0.83 → a threshold of
// 0.75 is first passed at epoch 4.
const THRESHOLD_EPOCH = "4";

before(async () => {
  h = await startDashboardHarness({ workers: 2, fakeBatchMs: 160, fakeBatches: 5 });
});

after(async () => {
  await h?.close();
});

async function signIn(): Promise<void> {
  const { page } = h;
  await page.goto(h.baseUrl);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.fill("#token", h.adminToken);
  await page.press("#token", "Enter");
  await page.getByRole("heading", { name: "Runs" }).waitFor();
  await page.locator("#live-status.live").waitFor();
}

test("the dashboard is served at / with hashed, immutable assets", async () => {
  const res = await fetch(`${h.baseUrl}/`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-cache");
  const html = await res.text();
  const js = /src="(\/assets\/main-[A-Z0-9]+\.js)"/.exec(html)?.[1];
  assert.ok(js, html);
  const asset = await fetch(`${h.baseUrl}${js}`);
  assert.equal(asset.status, 200);
  assert.equal(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");
  await asset.body?.cancel();
});

test("submit a run from the form, watch it train live, cancel a second run, sweep, all by browser", async () => {
  const { page } = h;
  await signIn();
  // The token stays in this browser, nowhere else.
  assert.equal(await page.evaluate(() => localStorage.getItem("resnet-jobs.token")), h.adminToken);

  // A long second run to cancel later; two workers, so it trains beside the form's run.
  const long = await h.request("POST", "/v1/runs", {
    name: "e2e long",
    schedule: "[1e-3, 0]cos[1e-5, 200]",
    data: { dataset: "synthetic", trainSize: 256, imageSize: 8 },
    model: { depth: 11 },
    batchSize: 32,
  });
  assert.equal(long.status, 201, JSON.stringify(long.json));
  const longId = (long.json as { id: string }).id;

  // --- the submit form: the API's own validation messages, live, and a schedule preview
  await page.click("nav >> text=Submit");
  await page.locator("#schedule-preview canvas").first().waitFor();
  const bad = "[1e-3, 0]sin[1e-5, 5]";
  await page.fill("#spec-schedule", bad);
  const expected = parseRunSpec({ schedule: bad });
  assert.equal(expected.ok, false);
  const message = expected.ok ? "" : expected.issues[0]!.message;
  await page.locator("#spec-schedule-error", { hasText: message }).waitFor();
  assert.equal(await page.getAttribute("#spec-schedule", "aria-invalid"), "true");
  await page.locator("#schedule-error", { hasText: "^" }).waitFor();
  await page.fill("#spec-optimizer-lambda", "-1");
  const lambdaIssue = parseRunSpec({ schedule: "[1e-3, 0]cos[1e-5, 5]", optimizer: { lambda: -1 } });
  await page.locator("#spec-optimizer-lambda-error", { hasText: lambdaIssue.ok ? "?" : lambdaIssue.issues[0]!.message }).waitFor();

  await page.fill("#spec-name", "e2e tiny");
  await page.fill("#spec-schedule", "[1e-3, 0]lin[1e-3, 2]cos[1e-5, 5]");
  await page.fill("#spec-optimizer-lambda", "0.15");
  await page.fill("#spec-threshold", "0.75");
  await fillTinyModel(page);
  await page.fill("#spec-batchSize", "32");
  await page.locator("#submit-run", { hasText: "Submit run" }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll("[aria-invalid=true]").length === 0);
  const shot1 = await h.screenshot("submit-form");
  assert.ok(shot1.stddev > 10, `submit form screenshot looks blank (stddev ${shot1.stddev})`);

  await page.click("#submit-run");
  await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
  const runId = page.url().split("/").pop()!;

  // --- the run page: one more point per epoch, live
  const seen: number[] = [];
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const n = Number(await page.getAttribute("#chart-acc", "data-points").catch(() => null) ?? -1);
    if (n >= 0 && seen[seen.length - 1] !== n) seen.push(n);
    if (n === 2) break;
    await page.waitForTimeout(40);
  }
  assert.ok(seen.includes(1) && seen.includes(2), `expected the acc chart to show 1, then 2 points; saw ${seen}`);
  await page.locator("#chart-lr canvas").first().waitFor();

  // --- the runs table while it trains: the threshold epoch appears there live
  await page.click("nav >> text=Runs");
  const row = page.locator(`tr[data-run-id="${runId}"]`);
  await row.waitFor();
  const cell = row.locator('td[data-col="thresholdEpoch"]');
  assert.equal(await cell.textContent(), "—", "the run had not reached the threshold when the table opened");
  await page.locator(`tr[data-run-id="${runId}"] td[data-col="thresholdEpoch"]`, { hasText: THRESHOLD_EPOCH }).waitFor({ timeout: 20_000 });
  await page.locator(`tr[data-run-id="${runId}"][data-state="succeeded"]`).waitFor({ timeout: 20_000 });
  assert.equal(await row.locator('td[data-col="bestEpoch"]').textContent(), "5");
  const shot3 = await h.screenshot("runs-table");
  assert.ok(shot3.stddev > 10, `runs table screenshot looks blank (stddev ${shot3.stddev})`);
  // The long run, mid-training: its page with progress and growing charts.
  await page.goto(`${h.baseUrl}/#/runs/${longId}`);
  await page.waitForFunction(() => Number(document.querySelector("#chart-acc")?.getAttribute("data-points") ?? 0) >= 2);
  const shot2 = await h.screenshot("run-page-training");
  assert.ok(shot2.stddev > 10, `run page screenshot looks blank (stddev ${shot2.stddev})`);
  await page.goto(`${h.baseUrl}/#/`);

  // --- the finished run's page: five points, the threshold epoch marked in the summary
  await row.locator('td[data-col="name"] a').click();
  await page.waitForFunction(() => document.querySelector("#chart-acc")?.getAttribute("data-points") === "5");
  assert.equal(await page.locator('#run-summary td[data-col="thresholdEpoch"]').textContent(), THRESHOLD_EPOCH);
  const shot4 = await h.screenshot("run-page-done");
  assert.ok(shot4.stddev > 10);

  // --- cancel the long run from its page
  await page.goto(`${h.baseUrl}/#/runs/${longId}`);
  await page.locator(".state-running").first().waitFor({ timeout: 20_000 });
  await page.click("#cancel-run");
  await page.locator(".toolbar .state-cancelled").waitFor({ timeout: 20_000 });
  assert.equal(await page.isDisabled("#retry-run"), false, "a cancelled run can be retried");
  const longRun = await h.request("GET", `/v1/runs/${longId}`);
  assert.equal((longRun.json as { state: string }).state, "cancelled");

  // --- a sweep from the form: λ × schedule, and its heat map
  await page.click("nav >> text=Submit");
  await page.fill("#spec-name", "e2e sweep");
  await page.fill("#spec-schedule", "[1e-3, 0]cos[1e-5, 2]\n[2e-3, 0]cos[1e-5, 2]");
  await page.fill("#spec-optimizer-lambda", "0.1, 0.2");
  await fillTinyModel(page);
  await page.locator("#submit-run", { hasText: "Submit sweep (4 runs)" }).waitFor();
  await page.click("#submit-run");
  await page.waitForURL(/#\/sweeps\/[0-9a-f-]{36}$/);
  await page.locator("#heatmap tbody tr").nth(1).waitFor();
  assert.equal(await page.locator("#heatmap tbody td").count(), 4);
  await page.locator("#chart-valAcc canvas").first().waitFor();
  // The heat map fills in live as the sweep's runs finish (2 epochs each: best val acc, not the
  // threshold epoch, which these short runs never reach).
  await page.selectOption("#heat-metric", "bestValAcc");
  await page.waitForFunction(() => Array.from(document.querySelectorAll("#heatmap tbody td")).every((td) => /^0\.\d{5}/.test(td.textContent ?? "")), null, { timeout: 30_000 });
  const shot5 = await h.screenshot("sweep-heatmap");
  assert.ok(shot5.stddev > 10);

  assert.deepEqual(h.consoleErrors, [], `console errors: ${h.consoleErrors.join("\n")}`);
});

test("the runs table is keyboard navigable: Tab reaches a sort button and Enter sorts", async () => {
  const { page } = h;
  await page.goto(`${h.baseUrl}/#/`);
  await page.locator("#runs-table tbody tr").first().waitFor();
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.classList.contains("sort") ?? false);
  }
  assert.ok(reached, "Tab never reached a column's sort button");
  const header = await page.evaluate(() => document.activeElement!.closest("th")!.getAttribute("aria-sort"));
  await page.keyboard.press("Enter");
  await page.waitForFunction((before) => {
    const th = document.activeElement?.closest("th") ?? document.querySelector("th[aria-sort=ascending], th[aria-sort=descending]");
    return th !== null && th.getAttribute("aria-sort") !== before;
  }, header);
  assert.deepEqual(h.consoleErrors, []);
});

/** The submit form's fields for a run small enough to train in CI: depth 11 on 256 synthetic 8×8 images. */
async function fillTinyModel(page: DashboardHarness["page"]): Promise<void> {
  await page.selectOption("#spec-data-dataset", "synthetic");
  await page.fill("#spec-data-trainSize", "256");
  await page.fill("#spec-data-imageSize", "8");
  await page.fill("#spec-model-depth", "11");
}
