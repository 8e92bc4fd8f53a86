import type { LayerRow, ParamCounts } from "./resnet-v2.ts";

/**
 * The layer summary as text, Keras `model.summary()` style: one line per layer (name, type with
 * kernel/stride, output shape without the batch axis, parameters), then `params: N`,
 * `trainable: N` and `non-trainable: N`.
 *
 * @example
 * formatLayerTable(model.layerTable(), model.paramCounts());
 * // "layer   type   output   params\n…\nparams: 1673738\ntrainable: 1663338\nnon-trainable: 10400\n"
 */
export function formatLayerTable(rows: readonly LayerRow[], counts: ParamCounts): string {
  const cells = rows.map((r) => [
    r.name,
    r.config ? `${r.type} ${r.config}` : r.type,
    `(${r.outputShape.join(", ")})`,
    String(r.params),
  ]);
  const header = ["layer", "type", "output shape", "params"];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i === 3 ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join("  ").trimEnd();
  const out = [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)];
  out.push(`params: ${counts.total}`, `trainable: ${counts.trainable}`, `non-trainable: ${counts.nonTrainable}`);
  return out.join("\n") + "\n";
}
