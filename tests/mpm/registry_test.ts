// The pre-training task registry: names, defaults and combination rules; the masking it picks;
// the step inputs a pass uploads.
import { writeJetFile } from "../../src/data/hdf5.ts";
import type { JetBatch } from "../../src/data/loader.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { preset } from "../../src/mpm/config.ts";
import { MPMModel } from "../../src/mpm/model.ts";
import { prepareInputs } from "../../src/mpm/prepare.ts";
import {
  checkObjective,
  maskingFor,
  PRETRAIN_TASKS,
  selectTasks,
  taskDef,
  taskNames,
} from "../../src/mpm/registry.ts";
import { ParameterStore } from "../../src/autograd/parameters.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { testGpu } from "../_helpers/mod.ts";

function throwsWith(f: () => unknown, want: string): void {
  let msg = "";
  try {
    f();
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes(want)) throw new Error(`expected an error with "${want}", got "${msg}"`);
}

Deno.test("registry: every task has a unique name, a summary, defaults with a weight, and objectives", () => {
  const names = PRETRAIN_TASKS.map((t) => t.name);
  if (new Set(names).size !== names.length) throw new Error(`duplicate names ${names}`);
  for (const t of PRETRAIN_TASKS) {
    if (!t.summary || !(t.defaults().weight > 0) || !t.objectives.length) {
      throw new Error(`task ${t.name} is incomplete`);
    }
  }
  if (!taskNames().includes("probe")) throw new Error("probe is a --tasks name");
  throwsWith(() => taskDef("magic"), `unknown task "magic" (available: id, reg`);
});

Deno.test("registry: selectTasks keeps existing settings, adds defaults, and enforces the combination rules", () => {
  const base = preset("small");
  base.tasks.reg = { weight: 2.5 };
  const c = selectTasks(base, ["reg", "cfm", "probe"]);
  if (c.tasks.reg?.weight !== 2.5 || c.tasks.cfm?.weight !== 1 || c.tasks.id || !c.tasks.probe) {
    throw new Error(JSON.stringify(c.tasks));
  }
  throwsWith(() => selectTasks(base, ["kmeans"]), "--tasks kmeans needs --kmeans CODEBOOK.json");
  throwsWith(() => selectTasks(base, ["vqvae"]), "--tokenizer");
  throwsWith(() => selectTasks(base, ["ssfm", "reg"]), "combines only with probe");
  const k = selectTasks(base, ["kmeans"], { codebook: "cb.json" });
  if (k.tasks.kmeans?.codebook !== "cb.json") throw new Error("the codebook flag is recorded");
  const s = selectTasks(base, ["ssfm", "probe"]);
  if (s.objective !== "ssfm" || !s.tasks.ssfm || !s.tasks.probe || s.tasks.reg) {
    throw new Error(`ssfm switches the objective: ${JSON.stringify(s)}`);
  }
  checkObjective(s);
  checkObjective(c);
  const noIds = structuredClone(base);
  noIds.useIds = false;
  throwsWith(() => checkObjective(noIds), "task id needs particle types");
  const none = structuredClone(base);
  none.tasks = {};
  throwsWith(() => checkObjective(none), "no pre-training task enabled");
});

Deno.test("registry: --tasks cnf switches on the encoder's final LayerNorm as the reference does, unless its settings opt out", () => {
  const base = preset("small");
  if (base.encoder.finalNorm) throw new Error("the small preset starts without a final norm");
  if (!selectTasks(base, ["cnf"]).encoder.finalNorm) throw new Error("cnf forces the final norm");
  if (selectTasks(base, ["reg"]).encoder.finalNorm) throw new Error("reg leaves the encoder alone");
  const opt = structuredClone(base);
  opt.tasks.cnf = { weight: 1, finalNorm: false };
  if (selectTasks(opt, ["cnf", "reg"]).encoder.finalNorm) {
    throw new Error("tasks.cnf.finalNorm false keeps the encoder as configured");
  }
  if (base.encoder.finalNorm) throw new Error("selectTasks does not change its input");
});

function batchOf(n: number): JetBatch {
  const block = synthJetClass(n, { seed: 3 });
  return {
    size: block.n,
    nParticles: block.nParticles,
    features: block.features,
    x: block.csts,
    raw: block.csts,
    ids: block.ids!,
    valid: Uint32Array.from(block.valid),
    labels: block.labels,
    streamIndex: 0,
  };
}

Deno.test("registry: maskingFor drops the configured fraction, or SSFM's per-jet range", () => {
  const batch = batchOf(6);
  const fixed = maskingFor(preset("small"))(batch, 1);
  for (let b = 0; b < batch.size; b++) {
    let real = 0;
    for (let n = 0; n < batch.nParticles; n++) real += batch.valid[b * batch.nParticles + n];
    if (fixed.count[b] !== Math.round(0.4 * real) && Math.abs(fixed.count[b] - 0.4 * real) > 1) {
      throw new Error(`jet ${b}: ${fixed.count[b]} of ${real} dropped`);
    }
  }
  const s = selectTasks(preset("small"), ["ssfm"]);
  s.tasks.ssfm!.minDrop = 0.9;
  s.tasks.ssfm!.maxDrop = 1;
  const wide = maskingFor(s)(batch, 1);
  for (let b = 0; b < batch.size; b++) {
    const real = Array.from(batch.valid.subarray(b * 128, (b + 1) * 128)).reduce((a, v) => a + v);
    if (wide.count[b] < Math.ceil(0.9 * real)) throw new Error(`jet ${b}: only ${wide.count[b]}`);
  }
});

Deno.test("step inputs: an MAE step uploads no BERT maps, an SSFM step no decoder maps, BERT no kept set", async () => {
  const gpu = await testGpu();
  const batch = batchOf(4);
  const uploads = (objective: "mae" | "bert" | "ssfm") => {
    const cfg = objective === "ssfm" ? selectTasks(preset("small"), ["ssfm"]) : preset("small");
    cfg.objective = objective;
    cfg.encoder = { ...cfg.encoder, dim: 16, layers: 1, heads: 2, registers: 2 };
    cfg.decoder = { ...cfg.decoder, dim: 8, layers: 1, heads: 2 };
    const store = new ParameterStore(gpu);
    const model = new MPMModel(store, cfg);
    store.finalize();
    const inp = prepareInputs(gpu, batch, maskingFor(cfg)(batch, 2), {
      registers: 2,
      maxParticles: 128,
    });
    const tape = new Tape(gpu);
    model.forward(tape, inp);
    const used = inp.uploaded;
    tape.dispose();
    inp.dispose();
    gpu.submit();
    return used;
  };
  const mae = uploads("mae"), bert = uploads("bert"), ssfm = uploads("ssfm");
  const bertMaps = ["keepSelf", "maskIdxN", "maskInvN", "dropRowsEnc", "dropRowsEncInv"];
  const decMaps = ["decIdx", "decInv", "maskIdx", "maskInv", "maskOnehot"];
  if (bertMaps.some((m) => mae.includes(m)) || !mae.includes("decIdx")) {
    throw new Error(`mae uploaded ${mae}`);
  }
  if (decMaps.some((m) => ssfm.includes(m)) || !ssfm.includes("xKept")) {
    throw new Error(`ssfm uploaded ${ssfm}`);
  }
  if (bert.includes("xKept") || !bert.includes("keepSelf")) {
    throw new Error(`bert uploaded ${bert}`);
  }
});

// A task added outside the built-in list still flows through the registry's rules.
Deno.test("registry: the CLI's help lists every task from its definition", async () => {
  const tmp = await Deno.makeTempDir();
  writeJetFile(`${tmp}/x.h5`, synthJetClass(10, { seed: 1 }));
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../tasks/pretrain.ts", import.meta.url).pathname, "--help"],
    stdout: "piped",
  }).output();
  const help = new TextDecoder().decode(r.stdout);
  for (const t of PRETRAIN_TASKS) {
    if (!help.includes(t.name) || !help.includes(t.summary)) {
      throw new Error(`--help lacks ${t.name}`);
    }
  }
  await Deno.remove(tmp, { recursive: true });
});
