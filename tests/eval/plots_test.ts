// Every plot kind in the one style: labelled axes, distinct tick labels, log axes marked, legends
// outside the data, markers on short series, reference lines dashed, what fell outside a
// histogram's range stated, and no empty frame (a "no data" notice instead). Where Debian's
// rsvg-convert is installed, every SVG is also rendered to PNG (it must parse).
import {
  featureAxisLabel,
  gridSvg,
  histogram,
  histogramSvg,
  lineSvg,
} from "../../src/eval/plots.ts";
import { linearTicks, logTicks, tickFormat } from "../../src/eval/_plot_frame.ts";

const hasRsvg = await new Deno.Command("rsvg-convert", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((r) => r.success).catch(() => false);

/** Checks an SVG's structure; renders it when possible. */
async function check(
  name: string,
  svg: string,
  o: { xLabel?: string; yLabel?: string; legend?: number; empty?: boolean } = {},
) {
  if (/NaN|Infinity|undefined/.test(svg)) {
    throw new Error(`${name}: NaN, Infinity or undefined in the SVG`);
  }
  const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  if (o.xLabel && !texts.some((t) => t.includes(o.xLabel!))) {
    throw new Error(`${name}: no x label "${o.xLabel}"`);
  }
  if (o.yLabel && !texts.some((t) => t.includes(o.yLabel!))) {
    throw new Error(`${name}: no y label "${o.yLabel}"`);
  }
  if (o.empty) {
    if (!texts.includes("no data")) throw new Error(`${name}: an empty plot must say "no data"`);
  } else {
    // Tick labels: text-anchor middle below the axis (x), end left of it (y); each axis needs
    // at least two distinct labels.
    const xt = [
      ...svg.matchAll(/<text x="[\d.]+" y="[\d.]+" text-anchor="middle">([^<]*)<\/text>/g),
    ].map((m) => m[1]);
    const yt = [...svg.matchAll(/text-anchor="end">([^<]*)<\/text>/g)].map((m) => m[1]);
    const xTicks = xt.filter((t) => /^-?[\d.e-]+$/.test(t)), yTicks = yt;
    if (new Set(xTicks).size < 2) throw new Error(`${name}: x tick labels [${xTicks}]`);
    if (new Set(yTicks).size < 2) throw new Error(`${name}: y tick labels [${yTicks}]`);
    if (new Set(yTicks).size !== yTicks.length) {
      throw new Error(`${name}: repeated y tick labels [${yTicks}]`);
    }
  }
  // The legend sits right of the data frame.
  const frame =
    /<rect x="(\d+(?:\.\d+)?)" y="[\d.]+" width="(\d+(?:\.\d+)?)" height="[\d.]+" fill="none" stroke="#333"\/>/
      .exec(svg);
  if (!frame) throw new Error(`${name}: no data frame`);
  const right = Number(frame[1]) + Number(frame[2]);
  const legendX = [
    ...svg.matchAll(
      /<line x1="([\d.]+)" x2="[\d.]+" y1="([\d.]+)" y2="\2" stroke="#[0-9a-f]+" stroke-width="2"/g,
    ),
  ]
    .map((m) => Number(m[1]));
  if ((o.legend ?? 0) !== legendX.length) {
    throw new Error(`${name}: ${legendX.length} legend entries, want ${o.legend ?? 0}`);
  }
  if (legendX.some((x) => x < right)) throw new Error(`${name}: the legend overlaps the data`);
  if (hasRsvg) {
    const p = new Deno.Command("rsvg-convert", { stdin: "piped", stdout: "piped", stderr: "piped" })
      .spawn();
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(svg));
    await w.close();
    const r = await p.output();
    if (!r.success || r.stdout.length < 500) {
      throw new Error(`${name}: rsvg-convert: ${new TextDecoder().decode(r.stderr)}`);
    }
  }
}

Deno.test("ticks: round values, one format per axis, 1-2-5 on log axes, narrow ranges still labelled", () => {
  const { ticks, step } = linearTicks(2.2953, 2.2968);
  const f = tickFormat(ticks, step), labels = ticks.map(f);
  if (new Set(labels).size !== labels.length || labels.length < 3) {
    throw new Error(`narrow: ${labels}`);
  }
  if (labels.some((l) => l.split(".")[1]?.length !== labels[0].split(".")[1]?.length)) {
    throw new Error(`mixed decimals: ${labels}`);
  }
  if (logTicks(0.01, 10).join() !== "0.01,0.02,0.05,0.1,0.2,0.5,1,2,5,10") {
    throw new Error(`${logTicks(0.01, 10)}`);
  }
  if (logTicks(3, 4).length < 2) throw new Error("narrow log axis without two ticks");
  const big = linearTicks(0, 2e6);
  if (!big.ticks.map(tickFormat(big.ticks, big.step)).every((l) => /e/.test(l) || l === "0")) {
    throw new Error("large values not in exponent form");
  }
});

Deno.test("every plot kind: axes, ticks, legend outside the data, markers, references, overflow, empty frames", async () => {
  // Feature histogram with over/underflow on a log axis (deno task data inspect).
  const vals = Array.from({ length: 2000 }, (_, i) => Math.exp((i % 200) / 40) - 1);
  const h = histogram(vals, 30, 0, 50);
  if (h.overflow === 0) throw new Error("expected overflow");
  const hs = histogramSvg(h.edges, [{ label: "2000 particles", y: h.counts }], {
    xLabel: featureAxisLabel("pt"),
    yLabel: "particles per bin",
    logY: true,
  }, [h]);
  if (!hs.includes(`${h.overflow} above the range`) || !hs.includes("(log scale)")) {
    throw new Error("histogram note/log mark");
  }
  await check("feature histogram", hs, {
    xLabel: "particle pT [GeV]",
    yLabel: "particles per bin",
    legend: 1,
  });
  // Three-way comparison (generation report).
  const g = [0, 1, 2].map((k) => histogram(vals.map((v) => v * (1 + 0.1 * k)), 30, 0, 50, true));
  await check(
    "comparison",
    histogramSvg(
      g[0].edges,
      g.map((x, k) => ({ label: ["real", "SSFM", "marginals"][k], y: x.counts })),
      {
        xLabel: featureAxisLabel("d0"),
        yLabel: "density",
      },
      g,
    ),
    { xLabel: "d0 (lifetime-signed) [mm]", legend: 3 },
  );
  // ROC with a diagonal reference line (classification).
  const fpr = Array.from({ length: 101 }, (_, i) => i / 100);
  const roc = lineSvg([
    { label: "QCD (AUC 0.812)", x: fpr, y: fpr.map((f) => Math.sqrt(f)) },
    { label: "top (AUC 0.901)", x: fpr, y: fpr.map((f) => f ** 0.3) },
    { label: "random", x: [0, 1], y: [0, 1], style: "reference" },
  ], {
    xLabel: "background efficiency",
    yLabel: "signal efficiency",
    xRange: [0, 1],
    yRange: [0, 1],
  });
  if (!roc.includes("stroke-dasharray")) throw new Error("reference line not dashed");
  if (/<g clip-path=[^>]*>[\s\S]*<circle[\s\S]*<\/g>/.test(roc)) {
    throw new Error("long curves carry no markers");
  }
  await check("roc", roc, { xLabel: "background efficiency", legend: 3 });
  // Rejection vs efficiency on a log axis (top tagging, CWoLa).
  await check(
    "rejection",
    lineSvg([{
      label: "top vs QCD",
      x: fpr.slice(1),
      y: fpr.slice(1).map((e) => 1 / (e ** 3 + 1e-3)),
    }], {
      xLabel: "signal efficiency εS",
      yLabel: "background rejection 1/εB",
      logY: true,
    }),
    { yLabel: "1/εB (log scale)", legend: 1 },
  );
  // Points with error bars at integer x (ARI vs vertices) and a chance line.
  const pts = lineSvg([
    {
      label: "reference ARI",
      x: [0, 1, 2, 3],
      y: [0.9, 0.6, 0.45, 0.3],
      err: [0.01, 0.03, 0.05, 0.1],
      style: "points",
    },
    { label: "chance", x: [-0.5, 3.5], y: [0.25, 0.25], style: "reference" },
  ], { xLabel: "secondary vertices", yLabel: "ARI", integerX: true, xRange: [-0.5, 3.5] });
  const xt = [...pts.matchAll(/text-anchor="middle">(-?[\d.]+)<\/text>/g)].map((m) => m[1]);
  if (xt.some((t) => !/^-?\d+$/.test(t))) throw new Error(`integer axis ticks ${xt}`);
  const data = (svg: string) => /<g clip-path=[^>]*>([\s\S]*?)<\/g>/.exec(svg)![1];
  if ((data(pts).match(/<circle/g) ?? []).length !== 4 || !data(pts).includes("<line")) {
    throw new Error("points and bars");
  }
  await check("points", pts, { xLabel: "secondary vertices", legend: 2 });
  // Short line series get markers; a sweep with bands on a log x axis.
  const sweep = lineSvg([
    { label: "pre-trained", x: [100, 300, 1000], y: [0.3, 0.4, 0.55], err: [0.02, 0.03, 0.01] },
    { label: "random", x: [100, 300, 1000], y: [0.27, 0.44, 0.54], err: [0.04, 0.01, 0.03] },
  ], { xLabel: "labelled training jets", yLabel: "accuracy", logX: true });
  if ((data(sweep).match(/<circle/g) ?? []).length !== 6 || !sweep.includes("<polygon")) {
    throw new Error("sweep markers/bands");
  }
  await check("sweep", sweep, { xLabel: "labelled training jets (log scale)", legend: 2 });
  // Loss panels: different losses never share an axis.
  const steps = Array.from({ length: 50 }, (_, i) => i + 1);
  const grid = gridSvg(
    [
      lineSvg([{ label: "train", x: steps, y: steps.map((s) => 2.3 / Math.sqrt(s)) }], {
        title: "id",
        xLabel: "step",
        yLabel: "id (cross-entropy)",
        logY: true,
      }),
      lineSvg([{ label: "train", x: steps, y: steps.map((s) => 0.8 - s / 200) }], {
        title: "reg",
        xLabel: "step",
        yLabel: "reg (L1)",
      }),
    ],
    2,
    "pre-training losses",
  );
  if (grid.split("<svg").length !== 4) throw new Error("grid panels");
  for (const panel of grid.split(/(?=<svg x=)/).slice(1)) {
    await check("loss panel", panel.replace(/<\/svg>\s*<\/svg>\s*$/, "</svg>"), {
      xLabel: "step",
      legend: 1,
    });
  }
  // Degenerate inputs: one point, a constant, nothing.
  await check(
    "one point",
    lineSvg([{ label: "val", x: [100], y: [2.296] }], { xLabel: "step", yLabel: "loss" }),
    { legend: 1 },
  );
  const flat = lineSvg([{ label: "train", x: [1, 2, 3, 4], y: [2.296, 2.296, 2.2961, 2.2959] }], {
    xLabel: "step",
    yLabel: "loss",
  });
  await check("nearly constant", flat, { legend: 1 });
  await check(
    "empty",
    lineSvg([{ label: "val", x: [], y: [] }], { xLabel: "step", yLabel: "loss" }),
    { legend: 1, empty: true },
  );
  await check("empty histogram", histogramSvg([0, 1, 2], [{ label: "none", y: [0, 0] }], {}), {
    legend: 1,
    empty: true,
  });
});

Deno.test("a long note wraps under the plot instead of running off the image, and long legend labels fit", () => {
  const note = Array.from({ length: 30 }, (_, i) => `word${i}`).join(" ");
  const svg = lineSvg([{ label: "a rather long legend label here", x: [1, 2], y: [1, 2] }], {
    xLabel: "x",
    yLabel: "y",
    note,
  });
  const width = Number(svg.match(/<svg[^>]* width="([\d.]+)"/)![1]);
  const lines = [
    ...svg.matchAll(/<text x="[\d.]+" y="[\d.]+" font-size="10" fill="#555">([^<]*)<\/text>/g),
  ]
    .map((m) => m[1]);
  if (lines.length < 2 || lines.join(" ") !== note) throw new Error(`note lines: ${lines}`);
  for (const l of lines) {
    if (68 + l.length * 5.6 > width) throw new Error(`a note line overruns ${width}px: ${l}`);
  }
  const label = "a rather long legend label here";
  if (!svg.includes(label) || width < 480 + 34 + 6.8 * label.length - 1) {
    throw new Error(`legend column too narrow: ${width}`);
  }
});
