// `deno task data synth|convert|inspect|fit`: make, convert, look at and fit preprocessors on
// jet data. Every subcommand prints --help.
import { parseFlags, Progress, runCli } from "./_cli.ts";
import { JetFileReader, JetFileWriter } from "../src/data/hdf5.ts";
import { QuantileTransform, savePreprocessor, Standardization } from "../src/data/preprocess.ts";
import { RootJetReader } from "../src/data/root.ts";
import { synthBTag, synthJetClass } from "../src/data/synth.ts";
import {
  BTAG_LABELS,
  type JetBlock,
  JETCLASS_LABELS,
  multiplicity,
  PARTICLE_TYPES,
} from "../src/data/types.ts";
import { histogram, histogramSvg } from "../src/eval/plots.ts";

const HELP = `
deno task data <command> ...

  synth   --kind jetclass|btag --jets N --out FILE.h5 [--seed S]
          Generate physics-shaped synthetic jets (the built-in default data).
  convert --from jetclass-root FILES... --out FILE.h5 [--tree NAME]
          Convert original JetClass ROOT files (features computed as the reference does).
  inspect FILE.h5 [--plots DIR] [--jets N]
          Summary (jets, classes, multiplicities, feature ranges) and SVG histograms of every
          feature, on the first N jets (default 50000).
  fit     FILE.h5 --out PRE.json [--kind quantile|standard] [--jets N] [--levels 500]
          Fit a preprocessor on a sample (the first N jets, default 20000) of a large file.
`;

function synth(argv: string[]): Promise<void> {
  const { values } = parseFlags(argv, {
    kind: { type: "string", default: "jetclass" },
    jets: { type: "string", default: "100000" },
    out: { type: "string" },
    seed: { type: "string", default: "0" },
  }, HELP);
  const kind = values.kind as string, n = Number(values.jets), seed = Number(values.seed);
  if (kind !== "jetclass" && kind !== "btag") {
    throw new Error(`--kind must be jetclass or btag, got ${kind}`);
  }
  if (!(n > 0)) throw new Error(`--jets must be a positive number, got ${values.jets}`);
  const out = (values.out as string | undefined) ?? `${kind}_synth_${n}.h5`;
  const gen = kind === "btag" ? synthBTag : synthJetClass;
  const first = gen(1, { seed });
  const w = JetFileWriter.create(out, {
    nParticles: first.nParticles,
    features: first.features,
    btagVertices: first.nVertices ?? 0,
  });
  const p = new Progress(`synth ${kind}`, n);
  try {
    for (let s = 0; s < n; s += 10000) {
      w.append(gen(Math.min(10000, n - s), { seed, start: s }));
      p.update(s + Math.min(10000, n - s));
    }
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
  p.done(n, `wrote ${out}`);
  return Promise.resolve();
}

async function convert(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, {
    from: { type: "string", default: "jetclass-root" },
    out: { type: "string" },
    tree: { type: "string" },
    seed: { type: "string" },
  }, HELP);
  if (values.from !== "jetclass-root") {
    throw new Error(`--from ${values.from}: only jetclass-root is supported`);
  }
  if (!positionals.length) throw new Error("give one or more ROOT files");
  if (!values.out) throw new Error("--out FILE.h5 is required");
  const readers = [];
  for (const f of positionals) {
    readers.push(await RootJetReader.open(f, { tree: values.tree as string | undefined }));
  }
  const total = readers.reduce((s, r) => s + r.n, 0);
  const p = new Progress("convert", total);
  let w: JetFileWriter | null = null, done = 0;
  try {
    for (const r of readers) {
      for (let s = 0; s < r.n; s += 5000) {
        const block = await r.read(s, 5000);
        w ??= JetFileWriter.create(values.out as string, {
          nParticles: block.nParticles,
          features: block.features,
          ids: !!block.ids,
          labels: !!block.labels,
        });
        w.append(block);
        done += block.n;
        p.update(done);
      }
    }
    w?.close();
  } catch (e) {
    w?.abort();
    throw e;
  }
  p.done(done, `wrote ${values.out}`);
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

async function inspect(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, {
    plots: { type: "string" },
    jets: { type: "string", default: "50000" },
  }, HELP);
  const file = positionals[0];
  if (!file) throw new Error("give an HDF5 file to inspect");
  const r = JetFileReader.open(file);
  const info = r.info;
  const b: JetBlock = r.read(0, Math.min(info.n, Number(values.jets)));
  r.close();
  const F = b.features.length;
  const names = info.btag ? BTAG_LABELS : JETCLASS_LABELS;
  console.log(
    `${file}: ${info.n} jets x ${info.nParticles} particle slots, features [${info.features}]${
      info.btag ? ", BTag fields" : ""
    }`,
  );
  console.log(`summary of the first ${b.n} jets:`);
  if (b.labels) {
    const counts = new Map<number, number>();
    for (const l of b.labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    console.log(
      "  classes: " +
        [...counts].sort((x, y) => x[0] - y[0]).map(([l, c]) => `${names[l] ?? l} ${c}`).join(", "),
    );
  }
  const mult = Float64Array.from({ length: b.n }, (_, j) => multiplicity(b, j)).sort();
  console.log(
    `  multiplicity: min ${mult[0]}, median ${quantile(mult, 0.5)}, max ${mult[mult.length - 1]}`,
  );
  if (b.ids) {
    const tc = new Array(8).fill(0);
    let tot = 0;
    for (let i = 0; i < b.valid.length; i++) if (b.valid[i]) (tc[b.ids[i]]++, tot++);
    console.log(
      "  particle types: " +
        tc.map((c, t) => `${PARTICLE_TYPES[t]} ${((100 * c) / tot).toFixed(1)}%`).join(", "),
    );
  }
  const dir = (values.plots as string | undefined) ?? file.replace(/\.h5$/, "") + "_plots";
  await Deno.mkdir(dir, { recursive: true });
  console.log("  feature ranges (0.1 %, 50 %, 99.9 % quantiles over real particles):");
  const series = (vals: Float64Array) => vals.filter(Number.isFinite).sort();
  for (let c = 0; c < F; c++) {
    const vals: number[] = [];
    for (let i = 0; i < b.valid.length; i++) if (b.valid[i]) vals.push(b.csts[i * F + c]);
    const s = series(Float64Array.from(vals));
    const lo = quantile(s, 0.001), hi = quantile(s, 0.999);
    console.log(
      `    ${b.features[c].padEnd(6)} ${lo.toPrecision(4)}, ${quantile(s, 0.5).toPrecision(4)}, ${
        hi.toPrecision(4)
      }`,
    );
    const h = histogram(s, 60, lo, hi > lo ? hi : lo + 1);
    await Deno.writeTextFile(
      `${dir}/${b.features[c]}.svg`,
      histogramSvg(h.edges, [{ label: `${b.n} jets`, y: h.counts }], {
        title: b.features[c],
        xLabel: b.features[c],
        yLabel: "particles",
        logY: true,
      }),
    );
  }
  const h = histogram(mult, Math.min(64, info.nParticles), 0, info.nParticles);
  await Deno.writeTextFile(
    `${dir}/multiplicity.svg`,
    histogramSvg(h.edges, [{ label: "jets", y: h.counts }], {
      title: "multiplicity",
      xLabel: "particles per jet",
      yLabel: "jets",
    }),
  );
  if (b.jets && b.labels) {
    const masses = names.map((_, l) =>
      Float64Array.from({ length: b.n }, (_, j) => j).filter((j) => b.labels![j] === l).map((j) =>
        b.jets![j * 5 + 3]
      )
    );
    const hi = Math.max(...Array.from(b.jets.filter((_, i) => i % 5 === 3)));
    const hs = masses.map((m) => histogram(m, 50, 0, Math.min(hi, 400), true));
    await Deno.writeTextFile(
      `${dir}/jet_mass.svg`,
      histogramSvg(hs[0].edges, hs.map((x, l) => ({ label: names[l], y: x.counts })), {
        title: "jet mass by class",
        xLabel: "mass [GeV]",
        yLabel: "density",
      }),
    );
  }
  console.log(`  plots: ${dir}/`);
}

async function fit(argv: string[]): Promise<void> {
  const { values, positionals } = parseFlags(argv, {
    out: { type: "string" },
    kind: { type: "string", default: "quantile" },
    jets: { type: "string", default: "20000" },
    levels: { type: "string", default: "500" },
  }, HELP);
  const file = positionals[0];
  if (!file || !values.out) throw new Error("usage: deno task data fit FILE.h5 --out PRE.json");
  const r = JetFileReader.open(file);
  const n = Math.min(r.info.n, Number(values.jets));
  const blocks = function* () {
    for (let s = 0; s < n; s += 5000) yield r.read(s, Math.min(5000, n - s));
  };
  const pre = values.kind === "standard"
    ? Standardization.fit(blocks())
    : QuantileTransform.fit(blocks(), { levels: Number(values.levels) });
  r.close();
  await savePreprocessor(values.out as string, pre);
  console.log(`fitted a ${values.kind} preprocessor on ${n} jets of ${file}: ${values.out}`);
}

if (import.meta.main) {
  await runCli(async () => {
    const [cmd, ...rest] = Deno.args;
    const commands: Record<string, (a: string[]) => Promise<void>> = {
      synth,
      convert,
      inspect,
      fit,
    };
    if (!cmd || cmd === "--help" || cmd === "-h") {
      console.log(HELP.trim());
      return;
    }
    const run = commands[cmd];
    if (!run) {
      throw new Error(`unknown command "${cmd}"; use synth, convert, inspect or fit (--help)`);
    }
    await run(rest.filter((a) => a !== "--debug"));
  });
}
