/**
 * The plot gallery: runs every command that draws a figure on small synthetic data (the real
 * code paths, in a scratch folder), copies one SVG of each kind into `docs/plots/` and renders
 * it to PNG with rsvg-convert (Debian's librsvg2-bin), so the README shows what a run draws.
 *
 *     deno run -A tools/render_plots.ts [WORK_DIR]   # ~40 minutes on a 2-core CPU; a rerun
 *                                                  # continues in WORK_DIR (/tmp/mpm-gallery)
 *
 * @module
 */
import { writeJetFile } from "../src/data/hdf5.ts";
import { synthBTag, synthJetClass } from "../src/data/synth.ts";
import { BTAG_LABELS, JETCLASS_LABELS } from "../src/data/types.ts";

const root = new URL("../", import.meta.url).pathname;
const out = `${root}docs/plots`;
// A fixed work folder: a rerun skips the commands whose figure is already there.
const tmp = Deno.args[0] ?? "/tmp/mpm-gallery";
await Deno.mkdir(tmp, { recursive: true });
const have = (f: string) => Deno.stat(`${tmp}/${f}`).then(() => true, () => false);

async function task(name: string, ...args: string[]): Promise<void> {
  // The folder the command writes (never an input: a rerun deletes an unfinished target).
  const at = (flag: string) => args.indexOf(flag) >= 0 ? args[args.indexOf(flag) + 1] : undefined;
  const target = name === "generate"
    ? `${at("--run")}/generation`
    : at("--out") ?? at("--plots") ?? (name === "pretrain" ? "run" : undefined);
  if (!target) throw new Error(`render_plots: no output folder in deno task ${name} ${args}`);
  if (
    await have(`${target}/plots`) || (name !== "pretrain" && await have(target))
  ) {
    console.log(`(have ${target}) deno task ${name} ${args.join(" ")}`);
    return;
  }
  if (await have(target)) await Deno.remove(`${tmp}/${target}`, { recursive: true });
  console.log(`deno task ${name} ${args.join(" ")}`);
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}tasks/${name}.ts`, ...args],
    cwd: tmp,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!r.success) throw new Error(`deno task ${name} failed`);
}

if (!await have("jets.h5")) {
  writeJetFile(`${tmp}/jets.h5`, synthJetClass(4000, { seed: 1 }), { classNames: JETCLASS_LABELS });
  // QCD against H->gg (the hardest pair of the synthetic classes), relabelled 0 / 1.
  const binary = synthJetClass(8000, { seed: 2, classes: [0, 7] });
  binary.labels = binary.labels!.map((l) => (l === 7 ? 1 : 0));
  writeJetFile(`${tmp}/binary.h5`, binary, { classNames: ["QCD", "Hgg"] });
  writeJetFile(`${tmp}/btag.h5`, synthBTag(3000, { seed: 3 }), { classNames: BTAG_LABELS });
}

await task("data", "inspect", "jets.h5", "--plots", "inspect");
await task(
  "pretrain",
  "--data",
  "jets.h5",
  "--steps",
  "120",
  "--batch",
  "32",
  "--tasks",
  "id,reg,probe",
);
await task(
  "finetune",
  "--task",
  "classify",
  "--backbone",
  "run/backbone.safetensors",
  "--train",
  "jets.h5",
  "--steps",
  "150",
  "--out",
  "ft-classify",
);
await task(
  "finetune",
  "--task",
  "classify",
  "--backbone",
  "run/backbone.safetensors",
  "--train",
  "binary.h5",
  "--steps",
  "150",
  "--out",
  "ft-binary",
);
await task(
  "finetune",
  "--task",
  "cwola",
  "--backbone",
  "run/backbone.safetensors",
  "--train",
  "jets.h5",
  "--steps",
  "100",
  "--n-train",
  "50",
  "--n-background",
  "100",
  "--out",
  "ft-cwola",
);
await task(
  "finetune",
  "--task",
  "vertex",
  "--backbone",
  "run/backbone.safetensors",
  "--train",
  "btag.h5",
  "--steps",
  "150",
  "--out",
  "ft-vertex",
);
await task(
  "finetune",
  "--task",
  "trackid",
  "--backbone",
  "run/backbone.safetensors",
  "--train",
  "btag.h5",
  "--steps",
  "150",
  "--out",
  "ft-trackid",
);
await task(
  "pretrain",
  "--data",
  "jets.h5",
  "--steps",
  "120",
  "--batch",
  "32",
  "--tasks",
  "ssfm",
  "--out",
  "run-ssfm",
);
await task("generate", "--run", "run-ssfm", "--jets", "150", "--data", "jets.h5");
await task("vqvae", "--data", "jets.h5", "--steps", "60", "--batch", "64", "--out", "vqvae");

const gallery: [string, string][] = [
  ["inspect/pt.svg", "feature_histogram"],
  ["inspect/d0.svg", "feature_histogram_d0"],
  ["inspect/multiplicity.svg", "multiplicity"],
  ["inspect/jet_mass.svg", "jet_mass_by_class"],
  ["run/plots/train_loss.svg", "pretrain_losses"],
  ["run/plots/probe_accuracy.svg", "probe_accuracy"],
  ["ft-classify/plots/roc.svg", "classify_roc"],
  ["ft-classify/plots/loss.svg", "finetune_loss"],
  ["ft-binary/plots/rejection.svg", "binary_rejection"],
  ["ft-cwola/plots/roc.svg", "cwola_rejection"],
  ["ft-vertex/plots/ari_vs_nvtx.svg", "vertex_ari"],
  ["ft-trackid/plots/balanced_accuracy_vs_ntrk.svg", "trackid_balanced_accuracy"],
  ["run-ssfm/generation/generated_d0.svg", "generated_d0"],
  ["run-ssfm/generation/generated_jet_mass.svg", "generated_jet_mass"],
  ["vqvae/plots/train_loss.svg", "vqvae_losses"],
];
await Deno.mkdir(out, { recursive: true });
for (const [src, name] of gallery) {
  await Deno.copyFile(`${tmp}/${src}`, `${out}/${name}.svg`);
  const r = await new Deno.Command("rsvg-convert", {
    args: [`${out}/${name}.svg`, "-o", `${out}/${name}.png`],
  }).output().catch(() => null);
  if (!r?.success) console.log(`no PNG for ${name} (install librsvg2-bin for rsvg-convert)`);
}
console.log(`wrote ${gallery.length} plots to ${out}`);
console.log(`(the runs stay in ${tmp}; delete it when done)`);
