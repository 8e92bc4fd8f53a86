import uPlot from "uplot";

export interface LineSeries {
  label: string;
  color: string;
  /** Which y scale: "y" (left axis) or "y2" (right axis). */
  scale?: "y" | "y2";
  dash?: number[];
  width?: number;
  points?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  y2Label?: string;
  height?: number;
  series: LineSeries[];
  /** A horizontal reference line on the left scale (the val_acc threshold). */
  threshold?: number | null;
  /** Distributions over decades (LR) read better on a log axis. */
  logY?: boolean;
  /** x values are epochs: whole-number ticks. */
  integerX?: boolean;
  /**
   * The width, when the caller has measured it: reading the container's width forces a layout, and
   * several charts created one after another would each force one of the whole page.
   */
  width?: number;
}

export interface ChartMarker {
  x: number;
  y: number | null;
  label: string;
}

/**
 * A uPlot line chart with the dashboard's extras: a dashed threshold line, a marked point (the first
 * epoch that passes the threshold), a right-hand axis, and width that follows its container.
 */
export class LineChart {
  readonly plot: uPlot;
  #marker: ChartMarker | null = null;
  #threshold: number | null;
  #resize: ResizeObserver;

  constructor(readonly container: HTMLElement, readonly options: LineChartOptions, data: uPlot.AlignedData) {
    this.#threshold = options.threshold ?? null;
    const hasY2 = options.series.some((s) => s.scale === "y2");
    const axisStroke = "#3b4252";
    const grid = { stroke: "#e5e7eb", width: 1 };
    const opts: uPlot.Options = {
      title: options.title,
      width: Math.max(320, options.width ?? (container.clientWidth || 640)),
      height: options.height ?? 260,
      // Explicit ranges: uPlot's axis code throws when a scale has no range (a chart before its first
      // point, a run with one epoch), so empty scales get [0, 1] and epoch axes at least one epoch.
      scales: {
        x: options.integerX
          ? { time: false, range: (_u, min, max) => (min === null || max === null ? [0, 1] : [Math.max(0, Math.floor(min) - (min === max ? 1 : 0)), Math.max(Math.ceil(max), Math.floor(min) + 1)]) }
          : { time: false, range: (_u, min, max) => (min === null || max === null ? [0, 1] : min === max ? [min - 1, max + 1] : [min, max]) },
        y: options.logY ? { distr: 3 } : { auto: true, range: valueRange },
        ...(hasY2 ? { y2: options.logY ? { distr: 3 } : { auto: true, range: valueRange } } : {}),
      },
      axes: [
        {
          label: options.xLabel,
          stroke: axisStroke,
          grid,
          ...(options.integerX ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500], values: (_u: uPlot, v: number[]) => v.map((x) => String(x)) } : {}),
        },
        { label: options.yLabel, stroke: axisStroke, grid, size: 64, values: (_u, v) => v.map(tick) },
        ...(hasY2
          ? [{ label: options.y2Label ?? "", scale: "y2", side: 1 as const, stroke: axisStroke, grid: { show: false }, size: 64, values: (_u: uPlot, v: number[]) => v.map(tick) }]
          : []),
      ],
      series: [
        { label: options.xLabel },
        ...options.series.map((s): uPlot.Series => ({
          label: s.label,
          stroke: s.color,
          width: s.width ?? 1.5,
          scale: s.scale ?? "y",
          spanGaps: false,
          ...(s.dash ? { dash: s.dash } : {}),
          points: { show: s.points ?? false, size: 4 },
          value: (_u, v) => (v === null || v === undefined ? "—" : tick(v)),
        })),
      ],
      cursor: { drag: { x: true, y: false } },
      // A legend of 100 runs is a wall of text (and 100 live-updated DOM rows per chart): overlays of many
      // runs rely on the table beside them, which has the same colours.
      legend: { show: options.series.length <= 12, live: true },
      hooks: { draw: [(u) => this.#drawOverlays(u)] },
    };
    this.plot = new uPlot(opts, data, container);
    this.#resize = new ResizeObserver(() => {
      const width = Math.max(320, container.clientWidth);
      if (Math.abs(width - this.plot.width) > 2) this.plot.setSize({ width, height: this.plot.height });
    });
    this.#resize.observe(container);
  }

  setData(data: uPlot.AlignedData): void {
    this.plot.setData(data);
  }

  setMarker(marker: ChartMarker | null): void {
    this.#marker = marker;
    this.plot.redraw(false, false);
  }

  setThreshold(threshold: number | null): void {
    this.#threshold = threshold;
    this.plot.redraw(false, false);
  }

  destroy(): void {
    this.#resize.disconnect();
    this.plot.destroy();
  }

  #drawOverlays(u: uPlot): void {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    if (this.#threshold !== null) {
      const y = Math.round(u.valToPos(this.#threshold, "y", true));
      ctx.strokeStyle = "#b45309";
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (this.#marker) {
      const x = Math.round(u.valToPos(this.#marker.x, "x", true));
      ctx.strokeStyle = "#047857";
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      if (this.#marker.y !== null) {
        const y = u.valToPos(this.#marker.y, "y", true);
        ctx.fillStyle = "#047857";
        ctx.beginPath();
        ctx.arc(x, y, 5 * devicePixelRatio, 0, 2 * Math.PI);
        ctx.fill();
      }
      ctx.fillStyle = "#047857";
      ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
      const text = this.#marker.label;
      const tw = ctx.measureText(text).width;
      const tx = x + 6 * devicePixelRatio + tw > left + width ? x - 6 * devicePixelRatio - tw : x + 6 * devicePixelRatio;
      ctx.fillText(text, tx, top + 14 * devicePixelRatio);
    }
    ctx.restore();
  }
}

function valueRange(_u: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  return uPlot.rangeNum(min, max, 0.1, true);
}

/** Axis and legend numbers: short, scientific for tiny LRs. */
function tick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(1).replace("e-", "e−");
  return String(Number(v.toPrecision(3)));
}

/** Distinct colours for overlaid runs (golden-angle hues, readable on white). */
export function seriesColor(i: number): string {
  return `hsl(${Math.round((i * 137.508) % 360)}, 65%, 42%)`;
}
