import { runTask } from "../_helpers/mod.ts";
// `deno task data`: the commands run end to end, print help, and fail with one-line causes.
const tmp = await Deno.makeTempDir({ prefix: "mpm-cli-" });

function run(...args: string[]) {
  return runTask("data", tmp, ...args);
}

Deno.test("data synth, inspect and fit run end to end", async () => {
  let r = await run(
    "synth",
    "--kind",
    "jetclass",
    "--jets",
    "600",
    "--out",
    "jc.h5",
    "--seed",
    "3",
  );
  if (r.code !== 0) throw new Error(r.err);
  r = await run("inspect", "jc.h5", "--plots", "plots");
  if (r.code !== 0 || !r.out.includes("600 jets") || !r.out.includes("classes:")) {
    throw new Error(r.out + r.err);
  }
  for (
    const f of ["pt", "deta", "dphi", "d0", "d0err", "dz", "dzerr", "multiplicity", "jet_mass"]
  ) {
    const svg = await Deno.readTextFile(`${tmp}/plots/${f}.svg`);
    if (!svg.startsWith("<svg") || !svg.includes("<path")) {
      throw new Error(
        `${f}.svg is not a plot`,
      );
    }
  }
  r = await run("fit", "jc.h5", "--out", "pre.json", "--levels", "100");
  if (r.code !== 0 || JSON.parse(await Deno.readTextFile(`${tmp}/pre.json`)).kind !== "quantile") {
    throw new Error(r.err);
  }
  r = await run("synth", "--kind", "btag", "--jets", "50", "--out", "bt.h5");
  if (r.code !== 0) throw new Error(r.err);
});

Deno.test("data CLI: --help, unknown flags and bad input fail with one-line messages", async () => {
  let r = await run("--help");
  if (r.code !== 0 || !r.out.includes("synth")) throw new Error("help");
  r = await run("synth", "--jetz", "5");
  if (r.code !== 2 || !r.err.includes("--jetz")) {
    throw new Error(`unknown flag: ${r.code} ${r.err}`);
  }
  // A path that does not exist is a bad command line: exit 2, naming it.
  r = await run("inspect", "missing.h5");
  if (r.code !== 2 || !r.err.includes("missing.h5") || r.err.includes("    at ")) {
    throw new Error(`missing file: ${r.err}`);
  }
  r = await run(
    "convert",
    new URL("../fixtures/uproot-issue-172.root", import.meta.url).pathname,
    "--out",
    "x.h5",
  );
  if (r.code !== 1 || !r.err.includes("part_px")) throw new Error(`convert: ${r.err}`);
  r = await run("frobnicate");
  if (r.code !== 2 || !r.err.includes("unknown command")) throw new Error(r.err);
});
