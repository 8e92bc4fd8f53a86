// `node --import tsx bench/plot-learn.ts RESULTS.json OUT.png`: draws bench:learn's curves (val_acc and
// training loss per epoch, one colour per backend) as an SVG and renders it to a PNG with the same
// Chromium the dashboard tests use (system, else @sparticuz/chromium from npm).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "../test/dashboard-harness.ts";
import { findChromium } from "../test/helpers/find-chromium.ts";

interface Row { backend: string; epoch: number; loss: number; valLoss: number; acc: number; valAcc: number; seconds: number }
const [input, output] = process.argv.slice(2);
if (!input || !output) throw new TypeError("usage: node --import tsx bench/plot-learn.ts RESULTS.json OUT.png");
const { rows, spec } = JSON.parse(await readFile(input, "utf8")) as { rows: Row[]; spec: { model: { depth: number } } };
const backends = [...new Set(rows.map((r) => r.backend))];
const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const epochs = Math.max(...rows.map((r) => r.epoch));

function panel(title: string, value: (r: Row) => number, lo: number, hi: number, x0: number): string {
  const W = 420, H = 300, L = 50, B = 40;
  const sx = (e: number) => x0 + L + ((e - 1) / Math.max(1, epochs - 1)) * (W - L - 20);
  const sy = (v: number) => 30 + (1 - (v - lo) / (hi - lo)) * (H - B - 30);
  const ticks = Array.from({ length: 5 }, (_, i) => lo + ((hi - lo) * i) / 4);
  const lines = backends.map((b, i) => {
    const pts = rows.filter((r) => r.backend === b).sort((p, q) => p.epoch - q.epoch);
    const d = pts.map((r) => `${sx(r.epoch).toFixed(1)},${sy(value(r)).toFixed(1)}`).join(" ");
    return `<polyline fill="none" stroke="${colours[i % colours.length]}" stroke-width="2" points="${d}"/>` +
      pts.map((r) => `<circle cx="${sx(r.epoch)}" cy="${sy(value(r))}" r="3" fill="${colours[i % colours.length]}"/>`).join("");
  }).join("");
  return `<text x="${x0 + L}" y="20" font-size="14" font-weight="bold">${title}</text>` +
    ticks.map((v) => `<line x1="${x0 + L}" x2="${x0 + W - 20}" y1="${sy(v)}" y2="${sy(v)}" stroke="#ddd"/>` +
      `<text x="${x0 + L - 6}" y="${sy(v) + 4}" font-size="11" text-anchor="end">${v.toFixed(2)}</text>`).join("") +
    Array.from({ length: epochs }, (_, i) => `<text x="${sx(i + 1)}" y="${H - B + 16}" font-size="11" text-anchor="middle">${i + 1}</text>`).join("") +
    `<text x="${x0 + L + (W - L) / 2}" y="${H - 6}" font-size="12" text-anchor="middle">epoch</text>` + lines;
}
const maxLoss = Math.max(...rows.map((r) => Math.max(r.loss, r.valLoss)));
const legend = backends.map((b, i) =>
  `<rect x="${60 + i * 120}" y="312" width="14" height="4" fill="${colours[i % colours.length]}"/><text x="${80 + i * 120}" y="318" font-size="12">${b}</text>`
).join("");
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="860" height="330" font-family="sans-serif">
<rect width="860" height="330" fill="white"/>
${panel(`ResNet${spec.model.depth}v2 on Fashion-MNIST: val_acc`, (r) => r.valAcc, 0, 1, 0)}
${panel("training loss per epoch", (r) => r.loss, 0, Math.ceil(maxLoss * 2) / 2, 430)}
${legend}</svg>`;
const profile = await mkdtemp(path.join(tmpdir(), "plot-learn-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: (await findChromium()).path, headless: true, args: CHROMIUM_ARGS, locale: "en-US", viewport: { width: 860, height: 330 },
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
  await page.screenshot({ path: output, clip: { x: 0, y: 0, width: 860, height: 330 } });
  console.log(`wrote ${output}`);
} finally {
  await context.close();
  await rm(profile, { recursive: true, force: true });
}
