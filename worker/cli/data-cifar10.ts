/**
 * `npm run data:cifar10 [-- --dir DIR] [--url URL] [--md5 HEX]`
 *
 * Downloads the CIFAR-10 binary archive (resuming a partial download), verifies its md5 and unpacks it
 * into DIR/cifar-10-batches-bin. DIR defaults to CIFAR10_DIR, else DATA_DIR/cifar10 (.data/cifar10);
 * URL and md5 default to the official ones and may also come from CIFAR10_URL / CIFAR10_MD5 (tests
 * point them at a local server). Exit status: 0 done (or already there), 1 failed, 2 bad arguments.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../../shared/config.ts";
import { CIFAR10_MD5, CIFAR10_URL, downloadCifar10 } from "../data/download-cifar10.ts";
import type { DownloadProgress } from "../data/download-verified.ts";
import { formatBytes, formatProgressBar } from "../train/progress-bar.ts";

const USAGE = "usage: npm run data:cifar10 [-- --dir DIR] [--url URL] [--md5 HEX]";

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: { dir: { type: "string" }, url: { type: "string" }, md5: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`data:cifar10: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig(process.env);
  const dir = values.dir ?? config.CIFAR10_DIR ?? join(config.DATA_DIR, "cifar10");
  const url = values.url ?? process.env.CIFAR10_URL ?? CIFAR10_URL;
  const md5 = values.md5 ?? process.env.CIFAR10_MD5 ?? CIFAR10_MD5;
  if (!/^[0-9a-f]{32}$/i.test(md5)) {
    process.stderr.write(`data:cifar10: --md5 must be 32 hex digits, got ${JSON.stringify(md5)}\n`);
    return 2;
  }
  const tty = process.stderr.isTTY === true;
  let lastPhase = "";
  let lastDraw = 0;
  const started = Date.now();
  const onProgress = (p: DownloadProgress) => {
    const now = Date.now();
    if (p.phase !== lastPhase) {
      if (lastPhase && tty) process.stderr.write("\n");
      lastPhase = p.phase;
      if (!tty) process.stderr.write(`${p.phase}…${p.phase === "download" && p.resumedFrom ? ` (resuming at ${formatBytes(p.resumedFrom)})` : ""}\n`);
    } else if (now - lastDraw < 100) {
      return;
    }
    lastDraw = now;
    if (!tty) return;
    const secs = (now - started) / 1000;
    const rate = p.phase === "download" ? (p.bytes - p.resumedFrom) / Math.max(secs, 1e-3) : 0;
    const eta = p.phase === "download" && p.totalBytes !== null && rate > 0 ? (p.totalBytes - p.bytes) / rate : undefined;
    process.stderr.write(`\r\x1b[2K${formatProgressBar({
      prefix: p.phase,
      done: p.bytes,
      total: p.totalBytes,
      ...(eta !== undefined ? { etaSeconds: eta } : {}),
      suffix: `${formatBytes(p.bytes)}${p.totalBytes !== null ? ` of ${formatBytes(p.totalBytes)}` : ""}${rate ? ` ${formatBytes(rate)}/s` : ""}`,
    })}`);
  };
  try {
    const r = await downloadCifar10({ dir, url, md5, onProgress });
    if (tty && lastPhase) process.stderr.write("\n");
    process.stdout.write(r.downloaded ? `CIFAR-10 is in ${r.path}\n` : `CIFAR-10 is already in ${r.path}\n`);
    return 0;
  } catch (e) {
    if (tty && lastPhase) process.stderr.write("\n");
    process.stderr.write(`data:cifar10: ${(e as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
