// `deno task data synth|convert|inspect|fit`: make, convert, look at and fit preprocessors on
// jet data. Every subcommand prints --help.
import { parse, Progress, runCli, UsageError } from "./_cli.ts";
import type { CommandSpec } from "./_flags.ts";
import { sampleJets } from "../src/data/sample.ts";
import { checkOutputFile } from "../src/train/rundir.ts";
import { JetFileReader, JetFileWriter } from "../src/data/hdf5.ts";
import { JetLoader } from "../src/data/loader.ts";
import { QuantileTransform, savePreprocessor, Standardization } from "../src/data/preprocess.ts";
import { DATASET_FORMATS, datasetFormat } from "../src/data/datasets/formats.ts";
import type { JetSource } from "../src/data/datasets/source.ts";
import { synthBTag, synthJetClass } from "../src/data/synth.ts";
import {
  BTAG_LABELS,
  type JetBlock,
  JETCLASS_LABELS,
  multiplicity,
  PARTICLE_TYPES,
} from "../src/data/types.ts";
import { featureAxisLabel, histogram, histogramSvg } from "../src/eval/plots.ts";

const HELP = `
deno task data <command> ...    (each command prints its own --help)

  synth    Generate physics-shaped synthetic jets (the built-in default data).
  convert  Convert public datasets (JetClass ROOT, Top Tagging, quark-gluon, JetNet, BTag ROOT).
  combine  Write one shuffled file from many (per-process files interleaved in proportion).
  inspect  Summary (jets, classes, multiplicities, feature ranges) and SVG histograms.
  fit      Fit a preprocessor on a sample of the files.
`;

const SYNTH = {
  name: "deno task data synth",
  summary: "Generates physics-shaped synthetic jets (the built-in default data of every command).",
  flags: {
    kind: {
      type: "string",
      choices: ["jetclass", "btag"],
      default: "jetclass",
      help: "JetClass-like (10 classes) or BTag-like jets",
    },
    jets: { type: "int", min: 1, default: 100000, help: "jets to generate" },
    out: { type: "path", help: "output file (default KIND_synth_N.h5)", meta: "FILE.h5" },
    seed: { type: "int", min: 0, default: 0, help: "seed" },
    overwrite: { type: "bool", help: "replace --out if it exists" },
  },
} satisfies CommandSpec;

async function synth(argv: string[]): Promise<void> {
  const { values: v } = parse(argv, SYNTH);
  const kind = v.kind, n = v.jets, seed = v.seed;
  const out = v.out ?? `${kind}_synth_${n}.h5`;
  await checkOutputFile(out, { overwrite: v.overwrite });
  const gen = kind === "btag" ? synthBTag : synthJetClass;
  const first = gen(1, { seed });
  const w = JetFileWriter.create(out, {
    nParticles: first.nParticles,
    features: first.features,
    btagVertices: first.nVertices ?? 0,
    classNames: kind === "btag" ? BTAG_LABELS : JETCLASS_LABELS,
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
}

const CONVERT = {
  name: "deno task data convert",
  summary: `Converts the public jet datasets into the library's HDF5 layout, with the kinematics
computed as the reference does (pT, Δη, Δφ relative to the jet axis; lifetime-signed impact
parameters and 8 particle types where the data has them; particles in decreasing pT). Several
input files of one format go into one output (use \`data combine\` to mix per-process files).
Formats:
${
    DATASET_FORMATS.map((f) =>
      `  ${f.name.padEnd(14)}${f.summary}\n${" ".repeat(16)}${f.files}; ${f.download}`
    ).join("\n")
  }`,
  positionals: { name: "FILES...", help: "input files of one format", min: 1, mustExist: true },
  flags: {
    from: {
      type: "string",
      choices: DATASET_FORMATS.map((f) => f.name),
      default: "jetclass-root",
      help: "input format",
    },
    out: { type: "path", help: "output HDF5 file", meta: "FILE.h5" },
    particles: {
      type: "int",
      min: 1,
      help: "particle slots kept (default 128; btag-root 15; jetnet the file's 30 or 150)",
    },
    tree: { type: "string", help: "ROOT: TTree name (default: tree, or the file's only tree)" },
    branch: {
      type: "string",
      multiple: true,
      help: "ROOT: read reference branch NAME from the file's BRANCH (repeatable)",
      meta: "NAME=BRANCH",
    },
    key: { type: "string", help: "toptag: pandas frame key (default table)" },
    "jet-type": {
      type: "string",
      choices: ["g", "q", "t", "w", "z"],
      help: "jetnet: the jet type when the file name does not say it",
    },
    overwrite: { type: "bool", help: "replace --out if it exists" },
  },
} satisfies CommandSpec;

async function convert(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, CONVERT);
  if (!v.out) throw new UsageError("--out FILE.h5 is required");
  await checkOutputFile(v.out, { overwrite: v.overwrite, inputs: positionals });
  const format = datasetFormat(v.from);
  const sources: JetSource[] = [];
  try {
    for (const f of positionals) {
      sources.push(
        await format.open(f, {
          nParticles: v.particles,
          tree: v.tree,
          branchMap: branchMap(v.branch),
          key: v.key,
          jetType: v["jet-type"],
        }),
      );
    }
    await convertSources(sources, v.out, format.name);
  } finally {
    for (const s of sources) s.close();
  }
}

/** `--branch NAME=BRANCH` values as a branch map. */
function branchMap(list?: string[]): Record<string, string> | undefined {
  if (!list?.length) return undefined;
  return Object.fromEntries(list.map((b) => {
    const [k, val] = b.split("=");
    if (!k || !val) throw new UsageError(`--branch ${b}: expected NAME=BRANCH, e.g. part_px=px`);
    return [k, val];
  }));
}

/** Streams every source into one file (layout from the first block), with progress. */
async function convertSources(sources: JetSource[], out: string, name: string): Promise<void> {
  const total = sources.reduce((s, r) => s + r.n, 0);
  const p = new Progress(`convert ${name}`, total);
  let w: JetFileWriter | null = null, done = 0, layout = "";
  try {
    for (const r of sources) {
      for (let s = 0; s < r.n; s += 5000) {
        const block = await r.read(s, 5000);
        const here = [block.nParticles, block.features, !!block.ids, !!block.labels].join("/");
        if (w && here !== layout) {
          throw new UsageError(
            `${r.path} has another layout (${here}) than the first file (${layout}); convert it separately`,
          );
        }
        layout = here;
        w ??= JetFileWriter.create(out, {
          nParticles: block.nParticles,
          features: block.features,
          ids: !!block.ids,
          labels: !!block.labels,
          btagVertices: block.vtxId ? Math.max(...sources.map((x) => x.nVertices ?? 0), 1) : 0,
          classNames: r.classNames,
        });
        w.append(block);
        done += block.n;
        p.update(done);
      }
    }
    if (!w) throw new UsageError("the input files hold no jets");
    w.close();
  } catch (e) {
    w?.abort();
    throw e;
  }
  p.done(done, `wrote ${out}`);
}

const COMBINE = {
  name: "deno task data combine",
  summary: `Writes one shuffled file from many, as the reference's combine_jetclass.py does for the
per-process JetClass files: the files are interleaved in proportion to their sizes (every
stretch of the output holds every file) and shuffled within each file in seeded windows, in
bounded memory. The output is exactly the stream \`deno task pretrain\` would read from the inputs.`,
  positionals: { name: "FILES...", help: "jet files of one layout", min: 1, mustExist: true },
  flags: {
    out: { type: "path", help: "output HDF5 file", meta: "FILE.h5" },
    seed: { type: "int", min: 0, default: 0, help: "shuffle seed" },
    window: { type: "int", min: 64, default: 8192, help: "jets in memory (shared by the files)" },
    overwrite: { type: "bool", help: "replace --out if it exists" },
  },
} satisfies CommandSpec;

async function combine(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, COMBINE);
  if (!v.out) throw new UsageError("--out FILE.h5 is required");
  await checkOutputFile(v.out, { overwrite: v.overwrite, inputs: positionals });
  const loader = new JetLoader({
    files: positionals,
    batchSize: 1000,
    seed: v.seed,
    window: v.window,
    loop: false,
    dropLast: false,
  });
  const first = JetFileReader.open(positionals[0]), info = first.info;
  first.close();
  const w = JetFileWriter.create(v.out, {
    nParticles: loader.nParticles,
    features: loader.features,
    ids: info.hasIds,
    labels: info.hasLabels,
    jets: info.hasJets,
    btagVertices: info.btag ? info.nVertices : 0,
    classNames: info.classNames,
  });
  const p = new Progress("combine", loader.length);
  let done = 0;
  try {
    for (let b = loader.next(); b; b = loader.next()) {
      w.append({
        n: b.size,
        nParticles: b.nParticles,
        features: b.features,
        csts: b.raw,
        valid: Uint8Array.from(b.valid),
        ids: info.hasIds ? b.ids : undefined,
        labels: b.labels,
        jets: b.jets,
        vtxId: b.vtxId,
        trackType: b.trackType,
        vtxPos: b.vtxPos,
        nVertices: b.nVertices,
      });
      done += b.size;
      p.update(done);
    }
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  } finally {
    loader.close();
  }
  p.done(done, `wrote ${v.out} (${positionals.length} files)`);
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

const INSPECT = {
  name: "deno task data inspect",
  summary: `Prints a summary of a jet file (jets, classes, multiplicities, particle types, feature
ranges) and writes SVG histograms of every feature, on the first N jets.`,
  positionals: { name: "FILE.h5", help: "jet file", min: 1, max: 1, mustExist: true },
  flags: {
    plots: { type: "path", help: "folder for the histograms (default FILE_plots)", meta: "DIR" },
    jets: { type: "int", min: 1, default: 50000, help: "jets summarised" },
    overwrite: { type: "bool", help: "replace plots already in the folder" },
  },
} satisfies CommandSpec;

async function inspect(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, INSPECT);
  const file = positionals[0];
  const dir = values.plots ?? file.replace(/\.h5$/, "") + "_plots";
  if (!values.overwrite) {
    const existing = [...(await safeReadDir(dir))].filter((n) => n.endsWith(".svg"));
    if (existing.length) {
      throw new Error(
        `--plots ${dir} already holds plots (${
          existing.slice(0, 3).join(", ")
        }); pass --overwrite or choose another --plots`,
      );
    }
  }
  const r = JetFileReader.open(file);
  const info = r.info;
  const b: JetBlock = r.read(0, Math.min(info.n, values.jets));
  r.close();
  const F = b.features.length;
  const names = info.classNames ?? (info.btag ? BTAG_LABELS : JETCLASS_LABELS);
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
    // The central 99.8 %: the note says how many particles fall outside.
    const h = histogram(s, 60, lo, hi > lo ? hi : lo + 1);
    await Deno.writeTextFile(
      `${dir}/${b.features[c]}.svg`,
      histogramSvg(h.edges, [{ label: `${b.n} jets`, y: h.counts }], {
        title: `${b.features[c]} of ${s.length} particles`,
        xLabel: featureAxisLabel(b.features[c]),
        yLabel: "particles per bin",
        logY: true,
      }, [h]),
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
        xLabel: "jet mass [GeV]",
        yLabel: "density [1/GeV]",
      }, hs),
    );
  }
  console.log(`  plots: ${dir}/`);
}

const FIT = {
  name: "deno task data fit",
  summary: `Fits a preprocessor on a sample of N jets drawn across the files in proportion to their
sizes (quantile-normal, as the reference, or standardisation).`,
  positionals: { name: "FILES...", help: "jet files (HDF5)", min: 1, mustExist: true },
  flags: {
    out: { type: "path", help: "preprocessor JSON to write", meta: "PRE.json" },
    kind: {
      type: "string",
      choices: ["quantile", "standard"],
      default: "quantile",
      help: "preprocessing",
    },
    jets: { type: "int", min: 1, default: 20000, help: "jets in the sample" },
    levels: { type: "int", min: 10, default: 500, help: "quantile levels" },
    seed: { type: "int", min: 0, default: 0, help: "sample seed" },
    overwrite: { type: "bool", help: "replace --out if it exists" },
  },
} satisfies CommandSpec;

async function fit(argv: string[]): Promise<void> {
  const { values: v, positionals } = parse(argv, FIT);
  if (!v.out) throw new UsageError("--out PRE.json is required");
  await checkOutputFile(v.out, { overwrite: v.overwrite, inputs: positionals });
  const blocks = sampleJets(positionals, v.jets, v.seed);
  const n = blocks.reduce((s, b) => s + b.n, 0);
  const pre = v.kind === "standard"
    ? Standardization.fit(blocks)
    : QuantileTransform.fit(blocks, { levels: v.levels });
  await savePreprocessor(v.out, pre);
  console.log(
    `fitted a ${v.kind} preprocessor on ${n} jets of ${positionals.join(", ")}: ${v.out}`,
  );
}

async function safeReadDir(dir: string): Promise<string[]> {
  try {
    const out: string[] = [];
    for await (const e of Deno.readDir(dir)) out.push(e.name);
    return out;
  } catch {
    return [];
  }
}

if (import.meta.main) {
  await runCli(async () => {
    const [cmd, ...rest] = Deno.args;
    const commands: Record<string, (a: string[]) => Promise<void>> = {
      synth,
      convert,
      combine,
      inspect,
      fit,
    };
    if (!cmd || cmd === "--help" || cmd === "-h") {
      console.log(HELP.trim());
      return;
    }
    const run = commands[cmd];
    if (!run) {
      throw new UsageError(`unknown command "${cmd}"; use synth, convert, combine, inspect or fit`);
    }
    await run(rest);
  }, "deno task data --help");
}
