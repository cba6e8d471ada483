/**
 * Small, dependency-free SVG plots: step histograms with several series, and line plots
 * (loss curves, metrics against training size with error bands).
 *
 * @module
 */

/** One series of a plot. */
export interface Series {
  /** Legend label. */
  label: string;
  /** y values (histogram: counts or densities per bin; line: values at `x`). */
  y: readonly number[];
  /** x values (line plots). */
  x?: readonly number[];
  /** Symmetric error band (line plots). */
  err?: readonly number[];
}

/** Common plot options. */
export interface PlotOptions {
  /** Title above the plot. */
  title?: string;
  /** x-axis label. */
  xLabel?: string;
  /** y-axis label. */
  yLabel?: string;
  /** Logarithmic y axis. */
  logY?: boolean;
  /** Logarithmic x axis (line plots). */
  logX?: boolean;
  /** Pixel size. Default 480 x 320. */
  width?: number;
  /** Pixel height. */
  height?: number;
}

const COLORS = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function ticks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1, step0 = span / n, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step) {
    out.push(Number(t.toPrecision(12)));
  }
  return out;
}

const fmt = (
  v: number,
) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0)
  ? v.toExponential(1)
  : String(Number(v.toPrecision(4))));

function frame(
  o: PlotOptions,
  xr: [number, number],
  yr: [number, number],
  body: (X: (v: number) => number, Y: (v: number) => number) => string,
  labels: string[],
): string {
  const W = o.width ?? 480, H = o.height ?? 320, L = 64, R = 16, T = o.title ? 30 : 12, B = 44;
  const lx = (v: number) => (o.logX ? Math.log10(Math.max(v, 1e-300)) : v);
  const ly = (v: number) => (o.logY ? Math.log10(Math.max(v, 1e-300)) : v);
  const [x0, x1] = [lx(xr[0]), lx(xr[1])], [y0, y1] = [ly(yr[0]), ly(yr[1])];
  const X = (v: number) => L + ((lx(v) - x0) / (x1 - x0 || 1)) * (W - L - R);
  const Y = (v: number) => H - B - ((ly(v) - y0) / (y1 - y0 || 1)) * (H - T - B);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  if (o.title) {
    parts.push(
      `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(o.title)}</text>`,
    );
  }
  parts.push(
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${
      H - T - B
    }" fill="none" stroke="#333"/>`,
  );
  // Log axes spanning less than a decade get round linear ticks; wider ones get 10^k ticks.
  // Log axes: ticks at 1, 2, 5 x 10^k (round linear ticks when the range is under a third of a
  // decade).
  const logTicks = (a: number, b: number, lo: number, hi: number) => {
    if (b - a < 0.3) return ticks(lo, hi);
    const out: number[] = [];
    for (let k = Math.floor(a); k <= Math.ceil(b); k++) {
      for (const m of [1, 2, 5]) out.push(m * 10 ** k);
    }
    return out.filter((t) => t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9));
  };
  const xt = o.logX ? logTicks(x0, x1, xr[0], xr[1]) : ticks(xr[0], xr[1]);
  const yt = o.logY ? logTicks(y0, y1, yr[0], yr[1]) : ticks(yr[0], yr[1]);
  for (const t of xt) {
    if (lx(t) >= x0 - 1e-9 && lx(t) <= x1 + 1e-9) {
      parts.push(
        `<line x1="${X(t)}" x2="${X(t)}" y1="${H - B}" y2="${H - B + 4}" stroke="#333"/><text x="${
          X(t)
        }" y="${H - B + 16}" text-anchor="middle">${fmt(t)}</text>`,
      );
    }
  }
  for (const t of yt) {
    if (ly(t) >= y0 - 1e-9 && ly(t) <= y1 + 1e-9) {
      parts.push(
        `<line x1="${L - 4}" x2="${L}" y1="${Y(t)}" y2="${Y(t)}" stroke="#333"/><text x="${
          L - 6
        }" y="${Y(t) + 4}" text-anchor="end">${fmt(t)}</text>`,
      );
    }
  }
  if (o.xLabel) {
    parts.push(
      `<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    );
  }
  if (o.yLabel) {
    parts.push(
      `<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${
        esc(o.yLabel)
      }</text>`,
    );
  }
  parts.push(body(X, Y));
  labels.forEach((l, i) =>
    parts.push(
      `<rect x="${W - R - 130}" y="${T + 8 + 14 * i}" width="10" height="3" fill="${
        COLORS[i % COLORS.length]
      }"/><text x="${W - R - 116}" y="${T + 12 + 14 * i}">${esc(l)}</text>`,
    )
  );
  parts.push("</svg>");
  return parts.join("\n");
}

/**
 * Step histograms over shared bin edges, one line per series.
 *
 * @example
 * ```ts
 * import { histogramSvg } from "@mpm/webgpu/eval";
 * const svg = histogramSvg([0, 1, 2], [{ label: "a", y: [3, 5] }], { xLabel: "x" });
 * console.assert(svg.startsWith("<svg"));
 * ```
 */
export function histogramSvg(
  edges: readonly number[],
  series: readonly Series[],
  o: PlotOptions = {},
): string {
  const all = series.flatMap((s) => s.y).filter((v) => !o.logY || v > 0);
  const yMax = Math.max(...all, 1e-12) * 1.1,
    yMin = o.logY ? Math.max(Math.min(...all) / 2, 1e-12) : 0;
  return frame(
    o,
    [edges[0], edges[edges.length - 1]],
    [yMin, yMax],
    (X, Y) =>
      series.map((s, i) => {
        let d = `M ${X(edges[0])} ${Y(yMin)}`;
        s.y.forEach((
          v,
          b,
        ) => (d += ` L ${X(edges[b])} ${Y(Math.max(v, yMin))} L ${X(edges[b + 1])} ${
          Y(Math.max(v, yMin))
        }`));
        d += ` L ${X(edges[edges.length - 1])} ${Y(yMin)}`;
        return `<path d="${d}" fill="none" stroke="${
          COLORS[i % COLORS.length]
        }" stroke-width="1.5"/>`;
      }).join("\n"),
    series.map((s) => s.label),
  );
}

/**
 * Line plot of one or more series with optional error bands (mean ± spread).
 *
 * @example
 * ```ts
 * import { lineSvg } from "@mpm/webgpu/eval";
 * const svg = lineSvg([{ label: "loss", x: [0, 1, 2], y: [3, 2, 1.5] }], { yLabel: "loss" });
 * console.assert(svg.includes("<path"));
 * ```
 */
export function lineSvg(series: readonly Series[], o: PlotOptions = {}): string {
  const xs = series.flatMap((s) => s.x ?? s.y.map((_, i) => i));
  const lo = series.flatMap((s) => s.y.map((v, i) => v - (s.err?.[i] ?? 0))).filter((v) =>
    Number.isFinite(v) && (!o.logY || v > 0)
  );
  const hi = series.flatMap((s) => s.y.map((v, i) => v + (s.err?.[i] ?? 0))).filter(
    Number.isFinite,
  );
  let [y0, y1] = [Math.min(...lo), Math.max(...hi)];
  if (!o.logY) {
    const pad = 0.05 * (y1 - y0 || Math.abs(y1) || 1);
    [y0, y1] = [y0 - pad, y1 + pad];
  }
  return frame(o, [Math.min(...xs), Math.max(...xs)], [y0, y1], (X, Y) =>
    series.map((s, i) => {
      const x = s.x ?? s.y.map((_, k) => k), c = COLORS[i % COLORS.length];
      const pts = s.y.map((v, k) => [x[k], v] as const).filter(([, v]) => Number.isFinite(v));
      let out = "";
      if (s.err) {
        const up = pts.map(([a, v], k) => `${X(a)},${Y(v + s.err![k])}`),
          dn = pts.map(([a, v], k) => `${X(a)},${Y(v - s.err![k])}`).reverse();
        out += `<polygon points="${
          [...up, ...dn].join(" ")
        }" fill="${c}" fill-opacity="0.2" stroke="none"/>`;
      }
      out += `<path d="${
        pts.map(([a, v], k) => `${k ? "L" : "M"} ${X(a)} ${Y(v)}`).join(" ")
      }" fill="none" stroke="${c}" stroke-width="1.5"/>`;
      return out;
    }).join("\n"), series.map((s) => s.label));
}

/**
 * Histogram counts of `values` over `bins` equal bins spanning [lo, hi] (outside values go to
 * the edge bins), normalised to unit area when `density`.
 *
 * @example
 * ```ts
 * import { histogram } from "@mpm/webgpu/eval";
 * const { counts } = histogram([0.1, 0.2, 0.9], 2, 0, 1);
 * console.assert(counts[0] === 2 && counts[1] === 1);
 * ```
 */
export function histogram(
  values: ArrayLike<number>,
  bins: number,
  lo: number,
  hi: number,
  density = false,
): { edges: number[]; counts: number[] } {
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const counts = new Array(bins).fill(0);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    counts[Math.max(0, Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins)))]++;
    n++;
  }
  if (density && n) { for (let b = 0; b < bins; b++) counts[b] /= n * ((hi - lo) / bins); }
  return { edges, counts };
}
