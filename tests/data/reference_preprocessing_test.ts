// The reference's JetClass quantiles: the shipped module matches the table it was generated from,
// a value at a quantile knot maps to the normal score of that knot's level (checked with an
// independent normal CDF), unknown features and files are refused, and a run records the choice.
import { renderQuantiles } from "../../tools/gen_quantiles.ts";
import { CSV } from "../../tools/gen_quantiles.ts";
import { writeJetFile } from "../../src/data/hdf5.ts";
import {
  JETCLASS_REFERENCE,
  jetclassReference,
  resolvePreprocessor,
} from "../../src/data/reference_preprocessing.ts";
import { DataError } from "../../src/data/errors.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { runTask } from "../reliability/_battery.ts";

// Φ(x) by Simpson's rule on the density (independent of the library's erfc).
function normalCdf(x: number): number {
  const a = 0, n = 2000, h = (x - a) / n, f = (t: number) => Math.exp(-t * t / 2);
  let s = f(a) + f(x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * f(a + i * h);
  return 0.5 + (s * h / 3) / Math.sqrt(2 * Math.PI);
}

Deno.test("reference quantiles: the shipped module is the one the generator writes from the table", async () => {
  const text = renderQuantiles(await Deno.readTextFile(CSV));
  const shipped = await Deno.readTextFile(
    new URL("../../src/data/_jetclass_quantiles.gen.ts", import.meta.url),
  );
  if (text !== shipped) {
    throw new Error(
      "src/data/_jetclass_quantiles.gen.ts is stale: run deno run -A tools/gen_quantiles.ts",
    );
  }
});

Deno.test("reference quantiles: a value at a knot maps to the normal score of the knot's level", async () => {
  const rows = (await Deno.readTextFile(CSV)).trim().split("\n").slice(1)
    .map((l) => l.split(",").map(Number));
  const pre = jetclassReference(["pt", "deta", "dphi"]);
  for (const [c, k] of [[0, 100], [0, 250], [0, 400], [1, 60], [1, 249], [2, 300]]) {
    // Only knots with distinct neighbours: there the forward and reverse interpolations agree.
    if (!(rows[k - 1][c] < rows[k][c] && rows[k][c] < rows[k + 1][c])) {
      throw new Error(`fixture knot ${k} of column ${c} is not strictly inside (pick another)`);
    }
    const y = pre.map(c, rows[k][c]);
    const p = normalCdf(y);
    if (Math.abs(p - k / 499) > 1e-6) {
      throw new Error(`column ${c} knot ${k}: Φ(${y}) = ${p}, want ${k / 499}`);
    }
  }
  // Order preserved and clipped tails.
  if (!(pre.map(0, 1) < pre.map(0, 10) && pre.map(0, 10) < pre.map(0, 100))) {
    throw new Error("pt map is not increasing");
  }
  if (!(Math.abs(pre.map(0, 1e9)) < 6)) throw new Error("tail not clipped");
});

Deno.test("reference quantiles: an unknown feature and a missing file are refused by name", async () => {
  try {
    jetclassReference(["pt", "mass"]);
    throw new Error("no error");
  } catch (e) {
    if (!(e instanceof DataError) || !String(e.message).includes('"mass"')) throw e;
  }
  const pre = await resolvePreprocessor(JETCLASS_REFERENCE, ["pt", "deta"]);
  if (pre.features.join() !== "pt,deta") throw new Error(`features ${pre.features}`);
  let failed = false;
  await resolvePreprocessor("/nonexistent/pre.json", ["pt"]).catch(() => (failed = true));
  if (!failed) throw new Error("a missing preprocessor file was accepted");
});

Deno.test("reference quantiles: a run with --preprocessor jetclass-reference records it and uses it", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "mpm-refpre-" });
  writeJetFile(`${tmp}/jets.h5`, synthJetClass(200, { seed: 1 }));
  const r = await runTask(tmp, "pretrain", [
    "--data",
    "jets.h5",
    "--steps",
    "2",
    "--batch",
    "8",
    "--tasks",
    "reg",
    "--preprocessor",
    JETCLASS_REFERENCE,
    "--out",
    "run",
  ]);
  if (r.code !== 0) throw new Error(r.err);
  if (!r.out.includes(`preprocessing: ${JETCLASS_REFERENCE}`)) throw new Error(r.out);
  const config = JSON.parse(await Deno.readTextFile(`${tmp}/run/config.json`));
  if (config.data.preprocessor.source !== JETCLASS_REFERENCE) {
    throw new Error(`source ${JSON.stringify(config.data.preprocessor)}`);
  }
  const saved = JSON.parse(await Deno.readTextFile(`${tmp}/run/preprocessor.json`));
  const ref = jetclassReference(saved.features);
  if (JSON.stringify(saved.quantiles) !== JSON.stringify(ref.quantiles)) {
    throw new Error("the run's preprocessor.json is not the reference's quantiles");
  }
  await Deno.remove(tmp, { recursive: true });
});
