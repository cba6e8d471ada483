/**
 * Small, dependency-free SVG plots in one style (`_plot_frame.ts`): step histograms that state
 * what fell outside their range, line and point plots with error bands or bars and reference
 * lines (chance, diagonals), and grids of panels for quantities that do not share an axis.
 *
 * @module
 */
import { COLORS, esc, frame, type LegendEntry } from "./_plot_frame.ts";

/** One series of a plot. */
export interface Series {
  /** Legend label (an empty label keeps the series out of the legend). */
  label: string;
  /** y values (histogram: counts or densities per bin; line: values at `x`). */
  y: readonly number[];
  /** x values (line plots; default 0, 1, 2, ...). */
  x?: readonly number[];
  /** Symmetric uncertainty: a band for lines, error bars for points. */
  err?: readonly number[];
  /**
   * How it is drawn: `line` (markers added when it has at most 30 points), `points`, or
   * `reference` (a dashed grey line: chance level, diagonal). Default `line`.
   */
  style?: "line" | "points" | "reference";
}

/** Common plot options. */
export interface PlotOptions {
  /** Title above the plot. */
  title?: string;
  /** x-axis label, with units. */
  xLabel?: string;
  /** y-axis label, with units. */
  yLabel?: string;
  /** Logarithmic y axis (the label says so). */
  logY?: boolean;
  /** Logarithmic x axis (line plots). */
  logX?: boolean;
  /** Ticks at integers only (counts: vertices, tracks). */
  integerX?: boolean;
  /** Data-area width in pixels (the legend column is added). Default 480. */
  width?: number;
  /** Pixel height. Default 320. */
  height?: number;
  /** A line of text under the axes (sample sizes, overflow). */
  note?: string;
  /** x range (default: the data's). */
  xRange?: [number, number];
  /** y range (default: the data's, padded). */
  yRange?: [number, number];
}

const REF = "#888";
const finite = (v: number) => Number.isFinite(v);

/** Histogram counts with what fell outside the range. */
export interface Histogram {
  /** Bin edges (bins + 1). */
  edges: number[];
  /** Counts (or densities) per bin of the values inside [lo, hi]. */
  counts: number[];
  /** Finite values below `lo`. */
  underflow: number;
  /** Finite values above `hi`. */
  overflow: number;
}

/**
 * Histogram of `values` over `bins` equal bins spanning [lo, hi]; values outside are counted
 * in `underflow` / `overflow` (not folded into the edge bins); normalised to unit area over
 * all finite values when `density`.
 *
 * @param values the sample
 * @param bins number of bins
 * @param lo lower edge
 * @param hi upper edge
 * @param density normalise to a density
 * @returns edges, counts, underflow and overflow
 * @example
 * ```ts
 * import { histogram } from "@mpm/webgpu/eval";
 * const h = histogram([0.1, 0.2, 0.9, 3], 2, 0, 1);
 * console.assert(h.counts[0] === 2 && h.counts[1] === 1 && h.overflow === 1);
 * ```
 */
export function histogram(
  values: ArrayLike<number>,
  bins: number,
  lo: number,
  hi: number,
  density = false,
): Histogram {
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const counts = new Array(bins).fill(0);
  let n = 0, under = 0, over = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!finite(v)) continue;
    n++;
    if (v < lo) under++;
    else if (v > hi) over++;
    else counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]++;
  }
  if (density && n) { for (let b = 0; b < bins; b++) counts[b] /= n * ((hi - lo) / bins); }
  return { edges, counts, underflow: under, overflow: over };
}

/**
 * Axis label of a particle feature, with its unit.
 *
 * @param name a feature name (pt, deta, dphi, d0, d0err, dz, dzerr) or any other string
 * @param normalised the values are preprocessed (normal scores)
 * @returns the label
 * @example
 * ```ts
 * import { featureAxisLabel } from "@mpm/webgpu/eval";
 * console.assert(featureAxisLabel("pt") === "particle pT [GeV]");
 * ```
 */
export function featureAxisLabel(name: string, normalised = false): string {
  const labels: Record<string, [string, string]> = {
    pt: ["particle pT", "GeV"],
    deta: ["Δη to the jet axis", ""],
    dphi: ["Δφ to the jet axis", "rad"],
    d0: ["d0 (lifetime-signed)", "mm"],
    d0err: ["σ(d0)", "mm"],
    dz: ["dz (lifetime-signed)", "mm"],
    dzerr: ["σ(dz)", "mm"],
    mass: ["jet mass", "GeV"],
  };
  const [text, unit] = labels[name] ?? [name, ""];
  if (normalised) return `${text} (normal score)`;
  return unit ? `${text} [${unit}]` : text;
}

function legendOf(series: readonly Series[]): LegendEntry[] {
  return series.flatMap((s, i) =>
    s.label
      ? [{
        label: s.label,
        color: s.style === "reference" ? REF : COLORS[i % COLORS.length],
        dashed: s.style === "reference",
        marker: s.style === "points" || (s.style !== "reference" && s.y.length <= 30),
      }]
      : []
  );
}

/**
 * Step histograms over shared bin edges, one line per series. `flow` (per series, from
 * {@linkcode histogram}) is reported in the note under the axes, so nothing outside the range
 * is silently folded into the edge bins.
 *
 * @param edges bin edges
 * @param series counts per bin
 * @param o plot options
 * @param flow values outside the range, per series
 * @returns the SVG text
 * @example
 * ```ts
 * import { histogram, histogramSvg } from "@mpm/webgpu/eval";
 * const h = histogram([0.5, 1.5, 1.6, 9], 2, 0, 2);
 * const svg = histogramSvg(h.edges, [{ label: "a", y: h.counts }], { xLabel: "x [GeV]" }, [h]);
 * console.assert(svg.startsWith("<svg") && svg.includes("1 above"));
 * ```
 */
export function histogramSvg(
  edges: readonly number[],
  series: readonly Series[],
  o: PlotOptions = {},
  flow?: readonly { underflow: number; overflow: number }[],
): string {
  const all = series.flatMap((s) => s.y).filter((v) => finite(v) && (!o.logY || v > 0));
  const yMax = Math.max(...all, 1e-12) * (o.logY ? 2 : 1.1);
  const yMin = o.logY ? Math.max(Math.min(...all) / 2, yMax * 1e-6) : 0;
  const notes = (flow ?? []).map((f, i) =>
    f.underflow || f.overflow
      ? `${series[i]?.label ?? i}: ${f.underflow} below, ${f.overflow} above the range`
      : ""
  ).filter(Boolean);
  const note = [o.note, ...notes].filter(Boolean).join("; ") || undefined;
  return frame(
    { ...o, note },
    o.xRange ?? [edges[0], edges[edges.length - 1]],
    o.yRange ?? [yMin, yMax],
    (X, Y) =>
      series.map((s, i) => {
        const c = s.style === "reference" ? REF : COLORS[i % COLORS.length];
        let d = `M ${X(edges[0])} ${Y(yMin)}`;
        s.y.forEach((v, b) => {
          const y = Y(Math.max(finite(v) ? v : 0, yMin));
          d += ` L ${X(edges[b])} ${y} L ${X(edges[b + 1])} ${y}`;
        });
        d += ` L ${X(edges[edges.length - 1])} ${Y(yMin)}`;
        const dash = s.style === "reference" ? ` stroke-dasharray="4 3"` : "";
        return `<path d="${d}" fill="none" stroke="${c}" stroke-width="1.5"${dash}/>`;
      }).join("\n"),
    legendOf(series).map((l) => ({ ...l, marker: false })),
    all.every((v) => v === 0),
  );
}

/**
 * Line and point plot of one or more series: bands (lines) or bars (points) for `err`, markers
 * on short series, dashed grey reference lines; a single point or a constant still gets a
 * readable frame.
 *
 * @param series the series
 * @param o plot options
 * @returns the SVG text
 * @example
 * ```ts
 * import { lineSvg } from "@mpm/webgpu/eval";
 * const svg = lineSvg([
 *   { label: "loss", x: [0, 1, 2], y: [3, 2, 1.5] },
 *   { label: "chance", x: [0, 2], y: [2.3, 2.3], style: "reference" },
 * ], { xLabel: "step", yLabel: "loss" });
 * console.assert(svg.includes("<path") && svg.includes("<circle") && svg.includes("stroke-dasharray"));
 * ```
 */
export function lineSvg(series: readonly Series[], o: PlotOptions = {}): string {
  const pts = series.map((s) =>
    s.y.map((v, k) => [s.x?.[k] ?? k, v, s.err?.[k] ?? 0] as const).filter(([x, v]) =>
      finite(x) && finite(v) && (!o.logY || v > 0) && (!o.logX || x > 0)
    )
  );
  const xs = pts.flat().map((p) => p[0]);
  const lo = pts.flat().map(([, v, e]) => v - e).filter((v) => !o.logY || v > 0);
  const hi = pts.flat().map(([, v, e]) => v + e);
  const empty = xs.length === 0;
  let [y0, y1] = empty ? [0, 1] : [Math.min(...lo), Math.max(...hi)];
  if (!o.logY && y1 > y0) {
    const pad = 0.05 * (y1 - y0);
    [y0, y1] = [y0 - pad, y1 + pad];
  } else if (o.logY && y1 > y0) [y0, y1] = [y0 / 1.15, y1 * 1.15];
  const xr: [number, number] = o.xRange ?? (empty ? [0, 1] : [Math.min(...xs), Math.max(...xs)]);
  return frame(
    o,
    xr,
    o.yRange ?? [y0, y1],
    (X, Y) =>
      series.map((s, i) => {
        const p = pts[i], ref = s.style === "reference";
        const c = ref ? REF : COLORS[i % COLORS.length];
        let out = "";
        if (s.err && s.style !== "points" && p.length > 1) {
          const up = p.map(([a, v, e]) => `${X(a)},${Y(v + e)}`);
          const dn = p.map(([a, v, e]) => `${X(a)},${Y(Math.max(v - e, o.logY ? y0 : -Infinity))}`)
            .reverse();
          out += `<polygon points="${
            [...up, ...dn].join(" ")
          }" fill="${c}" fill-opacity="0.2" stroke="none"/>`;
        }
        if (s.style !== "points") {
          out += `<path d="${
            p.map(([a, v], k) => `${k ? "L" : "M"} ${X(a)} ${Y(v)}`).join(" ")
          }" fill="none" stroke="${c}" stroke-width="${ref ? 1 : 1.5}"${
            ref ? ` stroke-dasharray="4 3"` : ""
          }/>`;
        }
        if (s.style === "points" || (!ref && p.length <= 30)) {
          for (const [a, v, e] of p) {
            if (e > 0 && (s.style === "points" || p.length === 1)) {
              out += `<line x1="${X(a)}" x2="${X(a)}" y1="${Y(v - e)}" y2="${
                Y(v + e)
              }" stroke="${c}"/>`;
            }
            out += `<circle cx="${X(a)}" cy="${Y(v)}" r="2.5" fill="${c}"/>`;
          }
        }
        return out;
      }).join("\n"),
    legendOf(series),
    empty,
  );
}

/**
 * Panels side by side in one SVG (`cols` per row), for quantities that must not share an axis
 * (losses of different kinds).
 *
 * @param panels SVG texts (from {@linkcode lineSvg} or {@linkcode histogramSvg})
 * @param cols panels per row
 * @param title a title above all panels
 * @returns the SVG text
 * @example
 * ```ts
 * import { gridSvg, lineSvg } from "@mpm/webgpu/eval";
 * const a = lineSvg([{ label: "CE", y: [2, 1] }]), b = lineSvg([{ label: "L1", y: [0.5, 0.4] }]);
 * console.assert(gridSvg([a, b], 2).split("<svg").length === 4);
 * ```
 */
export function gridSvg(panels: readonly string[], cols = 2, title?: string): string {
  const size = (svg: string) => {
    const m = /width="(\d+(?:\.\d+)?)" height="(\d+(?:\.\d+)?)"/.exec(svg);
    return m ? [Number(m[1]), Number(m[2])] : [480, 320];
  };
  const sizes = panels.map(size), c = Math.max(1, Math.min(cols, panels.length));
  const rows = Math.ceil(panels.length / c), top = title ? 26 : 0;
  const colW = Array.from(
    { length: c },
    (_, k) => Math.max(0, ...sizes.filter((_, i) => i % c === k).map((s) => s[0])),
  );
  const rowH = Array.from(
    { length: rows },
    (_, r) => Math.max(0, ...sizes.slice(r * c, r * c + c).map((s) => s[1])),
  );
  const W = colW.reduce((a, b) => a + b, 0), H = top + rowH.reduce((a, b) => a + b, 0);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  if (title) {
    parts.push(
      `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    );
  }
  panels.forEach((svg, i) => {
    const x = colW.slice(0, i % c).reduce((a, b) => a + b, 0);
    const y = top + rowH.slice(0, Math.floor(i / c)).reduce((a, b) => a + b, 0);
    parts.push(svg.replace("<svg ", `<svg x="${x}" y="${y}" `));
  });
  parts.push("</svg>");
  return parts.join("\n");
}
