/**
 * The one plotting style of the library: axes with ticks at round values formatted alike on an
 * axis (1-2-5 on log axes, which say so in their label), the legend in its own column right of
 * the data, a "no data" notice instead of an empty frame, and a note line under the axes.
 *
 * @module
 */

/** Colours by series index (matplotlib's tab10). */
export const COLORS: readonly string[] = [
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

let clips = 0;

/** Escapes text for SVG. */
export const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Frame options (see `PlotOptions` in plots.ts). */
export interface FrameOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
  integerX?: boolean;
  note?: string;
}

/** A legend entry: its label and how its swatch is drawn. */
export interface LegendEntry {
  label: string;
  color: string;
  dashed?: boolean;
  marker?: boolean;
}

/** Round tick values covering [lo, hi] with about `n` steps, and the step. */
export function linearTicks(lo: number, hi: number, n = 5): { ticks: number[]; step: number } {
  const span = hi - lo || Math.abs(hi) || 1, step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0 * (1 - 1e-9)) ??
    step0;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * span; t += step) {
    out.push(Number(t.toPrecision(12)));
  }
  return { ticks: out, step };
}

/** 1, 2, 5 x 10^k ticks in [lo, hi] (lo > 0); only the powers of ten beyond three decades. */
export function logTicks(lo: number, hi: number): number[] {
  const decades = Math.log10(hi / lo), mantissas = decades > 3 ? [1] : [1, 2, 5];
  const out: number[] = [];
  for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of mantissas) {
      const t = Number((m * 10 ** k).toPrecision(6));
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) out.push(t);
    }
  }
  // A narrow log axis keeps at least two labelled ticks.
  return out.length >= 2 ? out : linearTicks(lo, hi, 4).ticks.filter((t) => t > 0);
}

/** A log-axis tick: 0.02, 5, 500 as they are; 2e5 and 5e-4 beyond. */
export function logTickLabel(v: number): string {
  if (v >= 1e-3 && v < 1e5) return String(Number(v.toPrecision(3)));
  return v.toExponential(0).replace("e+", "e");
}

/** A formatter giving every tick of an axis the same number of decimals (or exponent form). */
export function tickFormat(ticks: readonly number[], step: number): (v: number) => string {
  const big = Math.max(...ticks.map(Math.abs), 0);
  if (big >= 1e5 || (big > 0 && big < 1e-3)) {
    const digits = Math.max(0, Math.min(4, Math.ceil(Math.log10(big / step)) - 1));
    return (v) => (v === 0 ? "0" : v.toExponential(digits).replace("e+", "e"));
  }
  let d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  if (Number((step * 10 ** d).toFixed(6)) % 1 !== 0) d++; // steps of 2.5 x 10^k
  return (v) => v.toFixed(Math.min(d, 8));
}

/**
 * Draws axes, ticks, labels, legend and note around `body`, which maps data to pixels with the
 * given X and Y.
 */
export function frame(
  o: FrameOptions,
  xr: [number, number],
  yr: [number, number],
  body: (X: (v: number) => number, Y: (v: number) => number) => string,
  legend: readonly LegendEntry[],
  empty = false,
): string {
  const legendW = legendWidth(legend);
  const PW = o.width ?? 480, H = o.height ?? 320, W = PW + legendW;
  // A long note wraps at word boundaries under the plot (about 5.6 px per character at 10 px).
  const noteLines = o.note ? wrapWords(o.note, Math.floor((W - 68 - 8) / 5.6)) : [];
  const L = 68, R = 14, T = o.title ? 30 : 12, B = o.note ? 46 + 12 * noteLines.length : 44;
  // Degenerate ranges (one point, a constant) get room around them.
  const widen = (r: [number, number], log?: boolean): [number, number] => {
    if (r[1] > r[0]) return r;
    const v = r[0];
    if (log) return [v / 2, v * 2];
    const pad = Math.abs(v) > 0 ? Math.abs(v) * 0.1 : 1;
    return [v - pad, v + pad];
  };
  xr = widen(xr, o.logX);
  yr = widen(yr, o.logY);
  const lx = (v: number) => (o.logX ? Math.log10(Math.max(v, 1e-300)) : v);
  const ly = (v: number) => (o.logY ? Math.log10(Math.max(v, 1e-300)) : v);
  const [x0, x1] = [lx(xr[0]), lx(xr[1])], [y0, y1] = [ly(yr[0]), ly(yr[1])];
  const X = (v: number) => L + ((lx(v) - x0) / (x1 - x0 || 1)) * (PW - L - R);
  const Y = (v: number) => H - B - ((ly(v) - y0) / (y1 - y0 || 1)) * (H - T - B);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  if (o.title) {
    parts.push(
      `<text x="${PW / 2}" y="18" text-anchor="middle" font-size="13">${esc(o.title)}</text>`,
    );
  }
  parts.push(
    `<rect x="${L}" y="${T}" width="${PW - L - R}" height="${
      H - T - B
    }" fill="none" stroke="#333"/>`,
  );
  const axis = (log: boolean | undefined, r: [number, number], integer = false) => {
    if (log) {
      const t = logTicks(r[0], r[1]);
      const pow = t.every((v) => /^[125]/.test(String(v)) || v.toExponential().match(/^[125]e/));
      return { ticks: t, format: pow ? logTickLabel : tickFormat(t, Math.min(...t)) };
    }
    let { ticks, step } = linearTicks(r[0], r[1]);
    if (integer) {
      step = Math.max(1, Math.round(step));
      ticks = [];
      for (let t = Math.ceil(r[0]); t <= r[1] + 1e-9; t += step) ticks.push(t);
    }
    return { ticks, format: tickFormat(ticks, step) };
  };
  const xa = axis(o.logX, xr, o.integerX), ya = axis(o.logY, yr);
  for (const t of xa.ticks) {
    if (lx(t) < x0 - 1e-9 || lx(t) > x1 + 1e-9) continue;
    parts.push(
      `<line x1="${X(t)}" x2="${X(t)}" y1="${H - B}" y2="${H - B + 4}" stroke="#333"/><text x="${
        X(t)
      }" y="${H - B + 16}" text-anchor="middle">${xa.format(t)}</text>`,
    );
  }
  for (const t of ya.ticks) {
    if (ly(t) < y0 - 1e-9 || ly(t) > y1 + 1e-9) continue;
    parts.push(
      `<line x1="${L - 4}" x2="${L}" y1="${Y(t)}" y2="${Y(t)}" stroke="#333"/><text x="${
        L - 6
      }" y="${Y(t) + 4}" text-anchor="end">${ya.format(t)}</text>`,
    );
  }
  const xLabel = (o.xLabel ?? "") + (o.logX ? " (log scale)" : "");
  const yLabel = (o.yLabel ?? "") + (o.logY ? " (log scale)" : "");
  if (xLabel.trim()) {
    parts.push(
      `<text x="${(L + PW - R) / 2}" y="${H - B + 32}" text-anchor="middle">${esc(xLabel)}</text>`,
    );
  }
  if (yLabel.trim()) {
    parts.push(
      `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${
        esc(yLabel)
      }</text>`,
    );
  }
  parts.push(...noteSvg(noteLines, L, H));
  const clip = `plot-data-${++clips}`;
  parts.push(
    `<clipPath id="${clip}"><rect x="${L}" y="${T}" width="${PW - L - R}" height="${
      H - T - B
    }"/></clipPath>`,
  );
  if (empty) {
    parts.push(
      `<text x="${(L + PW - R) / 2}" y="${
        (T + H - B) / 2
      }" text-anchor="middle" fill="#777">no data</text>`,
    );
  } else parts.push(`<g clip-path="url(#${clip})">${body(X, Y)}</g>`);
  legend.forEach((l, i) => {
    const y = T + 10 + 16 * i, x = PW + 4;
    const dash = l.dashed ? ` stroke-dasharray="4 3"` : "";
    parts.push(
      `<line x1="${x}" x2="${
        x + 18
      }" y1="${y}" y2="${y}" stroke="${l.color}" stroke-width="2"${dash}/>` +
        (l.marker ? `<circle cx="${x + 9}" cy="${y}" r="2.5" fill="${l.color}"/>` : "") +
        `<text x="${x + 24}" y="${y + 4}">${esc(l.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** Splits `text` into lines of at most `width` characters at spaces (a longer word stays whole). */
function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Width of the legend column: room for the longest label (0 without a legend). */
function legendWidth(legend: readonly LegendEntry[]): number {
  if (!legend.length) return 0;
  return Math.min(260, 34 + 6.8 * Math.max(...legend.map((l) => l.label.length)));
}

/** The note's lines at the bottom left, the last one 8 px above the bottom edge. */
function noteSvg(lines: readonly string[], x: number, H: number): string[] {
  return lines.map((line, k) =>
    `<text x="${x}" y="${H - 8 - 12 * (lines.length - 1 - k)}" font-size="10" fill="#555">${
      esc(line)
    }</text>`
  );
}
