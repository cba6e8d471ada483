// tools/torch/mpm_backbone.py loads a backbone into PyTorch, applies its stored preprocessing and
// gives the embeddings `deno task embed` writes (to 1e-5), and renames the weights to the
// reference's modules. Skipped, saying so, where Debian's python3-torch is not installed.
import { writeJetFile } from "../../src/data/hdf5.ts";
import { readArrays } from "../../src/data/hdf5_arrays.ts";
import { NpzFile } from "../../src/data/datasets/_npz.ts";
import { QuantileTransform } from "../../src/data/preprocess.ts";
import { Rng } from "../../src/data/rng.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { KINEMATIC_FEATURES } from "../../src/data/types.ts";
import { selectFeatures } from "../../src/data/types.ts";
import { requestGpu } from "../../src/gpu/gpu.ts";
import { decodeSafetensors, encodeSafetensors } from "../../src/io/safetensors.ts";
import { Backbone } from "../../src/mpm/backbone.ts";
import { runTask } from "../reliability/_battery.ts";

const PY = "/usr/bin/python3";
const tool = new URL("../../tools/torch/mpm_backbone.py", import.meta.url).pathname;
const hasTorch = await new Deno.Command(PY, {
  args: ["-c", "import torch, h5py"],
  stdout: "null",
  stderr: "null",
})
  .output().then((r) => r.success).catch(() => false);
if (!hasTorch) {
  console.log(
    "torch interop: SKIPPED: /usr/bin/python3 lacks torch or h5py (apt install python3-torch python3-h5py; .ci/run does)",
  );
}

/** A random backbone with every weight (LayerScale included) drawn far from its init. */
async function randomBackbone(
  path: string,
  o: { ids: boolean; features: readonly string[]; registers: number; finalNorm: boolean },
) {
  const gpu = await requestGpu();
  const jets = selectFeatures(synthJetClass(400, { seed: 5 }), o.features, { dropIds: !o.ids });
  const test = selectFeatures(synthJetClass(40, { seed: 6 }), o.features, { dropIds: !o.ids });
  const bb = Backbone.random(gpu, {
    encoder: { dim: 32, layers: 2, heads: 4, registers: o.registers, finalNorm: o.finalNorm },
    features: [...o.features],
    useIds: o.ids,
    maxParticles: 128,
  }, 3);
  await bb.save(path, QuantileTransform.fit([jets]));
  gpu.destroy();
  const { tensors, metadata } = decodeSafetensors(await Deno.readFile(path));
  const r = new Rng(11, 0);
  for (const [name, t] of tensors) {
    const scale = name.endsWith("gamma") ? 0.5 : 0.3;
    for (let i = 0; i < t.data.length; i++) t.data[i] = t.data[i] + scale * r.n();
  }
  await Deno.writeFile(path, encodeSafetensors(tensors, metadata));
  return test;
}

async function compareEmbeddings(
  o: { ids: boolean; features: readonly string[]; registers: number; finalNorm: boolean },
) {
  const tmp = await Deno.makeTempDir({ prefix: "mpm-torch-" });
  const jets = await randomBackbone(`${tmp}/backbone.safetensors`, o);
  writeJetFile(`${tmp}/jets.h5`, jets);
  const r = await runTask(tmp, "embed", [
    "--backbone",
    "backbone.safetensors",
    "--data",
    "jets.h5",
    "--out",
    "deno.h5",
    "--batch",
    "16",
    "--no-neutral-noise",
  ]);
  if (r.code !== 0) throw new Error(r.err);
  const py = await new Deno.Command(PY, {
    args: [
      tool,
      "embed",
      "--backbone",
      "backbone.safetensors",
      "--data",
      "jets.h5",
      "--out",
      "torch.npz",
      "--no-neutral-noise",
    ],
    cwd: tmp,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!py.success) throw new Error(new TextDecoder().decode(py.stderr));
  const ours = readArrays(`${tmp}/deno.h5`);
  const npz = await NpzFile.open(`${tmp}/torch.npz`);
  for (const name of ["jet_embedding", "particle_embedding"]) {
    const a = ours[name].data as Float32Array, b = (await npz.read(name)).data;
    if (a.length !== b.length) throw new Error(`${name}: ${a.length} vs ${b.length} values`);
    let worst = 0, scale = 0;
    const mask = ours["mask"].data as ArrayLike<number>;
    const D = name === "jet_embedding" ? 0 : a.length / mask.length;
    for (let i = 0; i < a.length; i++) {
      if (D && !mask[Math.floor(i / D)]) {
        // Padded slots are zero in both (deno task embed documents it).
        if (a[i] !== 0 || b[i] !== 0) {
          throw new Error(`${name}: padded slot value ${a[i]} / ${b[i]}`);
        }
        continue;
      }
      worst = Math.max(worst, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(b[i]));
    }
    if (!(worst <= 1e-5 * Math.max(1, scale))) {
      throw new Error(`${name}: max |deno - torch| = ${worst} (values up to ${scale})`);
    }
    if (scale < 0.1) throw new Error(`${name}: outputs too small (${scale}) to test anything`);
  }
  await Deno.remove(tmp, { recursive: true });
}

Deno.test({
  name:
    "torch: a backbone with types, registers and a final norm embeds as deno task embed does (1e-5)",
  ignore: !hasTorch,
  fn: () =>
    compareEmbeddings({
      ids: true,
      features: synthJetClass(1).features,
      registers: 4,
      finalNorm: true,
    }),
});

Deno.test({
  name: "torch: a kinematics-only backbone without registers embeds as deno task embed does (1e-5)",
  ignore: !hasTorch,
  fn: () =>
    compareEmbeddings({ ids: false, features: KINEMATIC_FEATURES, registers: 0, finalNorm: false }),
});

Deno.test({
  name:
    "torch: the weights rename to the reference's modules (csts_emb, csts_id_emb, encoder.layers.i.attn.fn.attn_in, ...)",
  ignore: !hasTorch,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "mpm-torch-" });
    await randomBackbone(`${tmp}/b.safetensors`, {
      ids: true,
      features: synthJetClass(1).features,
      registers: 4,
      finalNorm: true,
    });
    const py = await new Deno.Command(PY, {
      args: [
        "-c",
        `import sys; sys.path.insert(0, "${tool.replace(/\/[^/]+$/, "")}")
import mpm_backbone as m
model, info = m.load_backbone("${tmp}/b.safetensors")
ref = m.reference_state_dict(model.state_dict())
print(" ".join(sorted(ref)))
print(tuple(ref["encoder.registers"].shape))`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!py.success) throw new Error(new TextDecoder().decode(py.stderr));
    const [names, regShape] = new TextDecoder().decode(py.stdout).trim().split("\n");
    for (
      const want of [
        "csts_emb.weight",
        "csts_id_emb.weight",
        "encoder.layers.1.attn.fn.attn_in.weight",
        "encoder.layers.0.attn.fn.attn_out.bias",
        "encoder.layers.0.attn.norm.weight",
        "encoder.layers.0.attn.ls.gamma",
        "encoder.layers.1.ff.fn.lin1.weight",
        "encoder.layers.1.ff.ls.gamma",
        "encoder.final_norm.bias",
      ]
    ) {
      if (!names.split(" ").includes(want)) throw new Error(`missing ${want} in ${names}`);
    }
    if (/\bembed\.|in_proj|ls1|norm1/.test(names)) throw new Error(`unmapped names: ${names}`);
    if (regShape !== "(1, 4, 32)") throw new Error(`registers ${regShape}`);
    await Deno.remove(tmp, { recursive: true });
  },
});
