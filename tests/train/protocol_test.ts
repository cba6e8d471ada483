import { writeJetFile } from "../../src/data/hdf5.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { runTask } from "../reliability/_battery.ts";
import type { JetBatch } from "../../src/data/loader.ts";
import { VERTEX } from "../../src/train/downstream/vertex.ts";
import { backboneLrScale } from "../../src/train/head_training.ts";
import { downstreamProtocol, type ProtocolInput } from "../../src/train/downstream/protocol.ts";

function expect(i: ProtocolInput, want: Record<string, number | boolean>): void {
  const p = downstreamProtocol(i) as unknown as Record<string, number | boolean>;
  for (const [k, v] of Object.entries(want)) {
    if (p[k] !== v) {
      throw new Error(`${JSON.stringify(i)}: ${k} = ${p[k]}, the reference's is ${v}`);
    }
  }
}

Deno.test("protocol (reference preset): classification follows the paper's schedule, patience and unfreeze rules by labelled-set size", () => {
  const c = {
    task: "classify",
    mode: "finetuned" as const,
    batch: 500,
    preset: "reference" as const,
  };
  expect({ ...c, nTrain: 1e3 }, {
    steps: 200_001,
    warmup: 10_000,
    unfreezeAt: 100,
    catchup: 5000,
    patience: 5,
    valEvery: 20, // 10 epochs of 2 batches
    lr: 1e-4,
    keepBest: true,
  });
  expect({ ...c, nTrain: 1e4 }, { unfreezeAt: 5000, patience: 25, valEvery: 20_000 });
  expect({ ...c, nTrain: 1e5 }, { patience: 10 });
  expect({ ...c, nTrain: 1e6 }, { patience: 10 });
  expect({ ...c, nTrain: 1e7 }, {
    patience: 5,
    unfreezeAt: 20_000,
    catchup: 20_000,
    warmup: 40_000,
  });
  expect({ ...c, task: "btag", nTrain: 2e4 }, { steps: 200_001, patience: 10 });
});

Deno.test("protocol (reference preset): vertexing, tracks and CWoLa use warm-up 5000; CWoLa trains 10 epochs without early stopping and keeps the last weights", () => {
  const r = { mode: "finetuned" as const, batch: 500, preset: "reference" as const };
  for (const task of ["vertex", "trackid"]) {
    expect({ ...r, task, nTrain: 2e6 }, {
      steps: 100_000,
      warmup: 5000,
      patience: 25,
      valEvery: 4000,
      keepBest: true,
    });
  }
  expect({ ...r, task: "cwola", nTrain: 10_000 }, {
    steps: 200,
    warmup: 5000,
    valEvery: 200,
    patience: Infinity,
    keepBest: false,
  });
});

Deno.test("protocol: scratch trains everything from step 0 at 1e-3, frozen never unfreezes, in both presets", () => {
  for (const preset of ["budget", "reference"] as const) {
    const base = { task: "classify", nTrain: 300, batch: 32, preset };
    expect({ ...base, mode: "scratch" }, { unfreezeAt: 0, catchup: 1, lr: 1e-3 });
    expect({ ...base, mode: "frozen" }, { unfreezeAt: Infinity, lr: 1e-4 });
  }
});

Deno.test("protocol (budget preset): the reference's schedule scaled to the steps given, with its per-size rules kept", () => {
  const b = { task: "classify", mode: "finetuned" as const, batch: 32, steps: 2000 };
  expect({ ...b, nTrain: 5000 }, {
    steps: 2000,
    warmup: 100, // 10k of 200k
    unfreezeAt: 50, // 5000 of 200k
    catchup: 50,
    patience: 5,
    valEvery: 50,
  });
  expect({ ...b, nTrain: 500 }, { unfreezeAt: 1 }); // 100 of 200k, at least one step
  expect({ ...b, task: "vertex", nTrain: 5000 }, { warmup: 100, unfreezeAt: 100, patience: 25 });
  // CWoLa keeps 10 epochs unless told otherwise, validating once at the end.
  expect({ task: "cwola", mode: "frozen", batch: 50, nTrain: 1000 }, {
    steps: 200,
    valEvery: 200,
    keepBest: false,
    warmup: 100, // capped at half the steps
  });
  expect({ task: "classify", mode: "frozen", batch: 64, nTrain: 1000 }, { steps: 1000 });
});

Deno.test("protocol: bad inputs are refused with the value", () => {
  const ok = { task: "classify", mode: "frozen" as const, nTrain: 10, batch: 4 };
  for (
    const [bad, word] of [
      [{ ...ok, nTrain: 0 }, "nTrain 0"],
      [{ ...ok, batch: 0.5 }, "batch 0.5"],
      [{ ...ok, steps: -3 }, "steps -3"],
      [{ ...ok, preset: "fast" }, "unknown preset 'fast'"],
    ] as const
  ) {
    let msg = "";
    try {
      downstreamProtocol(bad as ProtocolInput);
    } catch (e) {
      msg = (e as Error).message;
    }
    if (!msg.includes(word)) throw new Error(`expected '${word}', got '${msg}'`);
  }
});

Deno.test("catch-up: the backbone's learning rate is 0 while frozen, starts near 1e-8 and rises linearly to the head's over C steps", () => {
  const s = { frozen: false, unfreezeAt: 100, catchup: 50, lr: 1e-4 };
  const scales = Array.from({ length: 200 }, (_, t) => backboneLrScale(s, t));
  if (scales.slice(0, 100).some((v) => v !== 0)) throw new Error("frozen before U");
  for (let k = 0; k < 50; k++) {
    const want = (k + 1) / 50;
    if (Math.abs(scales[100 + k] - want) > 1e-12) {
      throw new Error(`step ${100 + k}: ${scales[100 + k]} != ${want}`);
    }
  }
  if (scales.slice(149).some((v) => v !== 1)) throw new Error("tracks the head after catch-up");
  // A very long catch-up still starts at the reference's floor of 1e-8 (absolute).
  const long = { ...s, catchup: 1e9 };
  if (backboneLrScale(long, 100) !== 1e-8 / 1e-4) throw new Error("floor of 1e-8");
  if (backboneLrScale({ ...s, frozen: true }, 1000) !== 0) {
    throw new Error("frozen runs stay frozen");
  }
});

Deno.test("vertex: the headline ARI averages jets with 1-6 secondary vertices as the reference reports it; ari_all adds the jets without any", () => {
  const c = VERTEX.collector(1, { train: [], val: [], test: [], split: false }, "t.h5");
  // Two jets of 4 slots: jet 0 has two vertices' worth of tracks (ids 0,0,1,1: one SV), jet 1
  // three tracks from the primary vertex only. Pair slots (0,1) (0,2) (0,3) (1,2) (1,3) (2,3).
  const batch = {
    size: 2,
    nParticles: 4,
    valid: Uint32Array.from([1, 1, 1, 1, 1, 1, 1, 0]),
    vtxId: Int32Array.from([0, 0, 1, 1, 0, 0, 0, 0]),
  } as unknown as JetBatch;
  const perfect = [5, -5, -5, -5, -5, 5], wrong = [-5, -5, -5, -5, -5, -5];
  c.add(batch, Float32Array.from([...perfect, ...wrong]), { P: 6 });
  const m = c.metrics();
  if (m.ari !== 1) throw new Error(`headline over the SV jet only: ${m.ari}`);
  if (!(m.ari_all < 1) || m.ari_nvtx_0 === undefined || m.ari_nvtx_1 !== 1) {
    throw new Error(`ari_all includes the jet without SVs: ${JSON.stringify(m)}`);
  }
  const none = VERTEX.collector(1, { train: [], val: [], test: [], split: false }, "t.h5");
  none.add({ ...batch, size: 1, vtxId: new Int32Array(8) } as JetBatch, new Float32Array(6), {
    P: 6,
  });
  if (!Number.isNaN(none.metrics().ari)) throw new Error("no SV jets: the headline is undefined");
});

Deno.test("finetune CLI: an unfreeze step at or past the last step is warned about, with the default step count too", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "mpm-unfreeze-" });
  writeJetFile(`${tmp}/jets.h5`, synthJetClass(300, { seed: 9 }));
  const r = await runTask(tmp, "finetune", [
    "--task",
    "classify",
    "--backbone",
    "random",
    "--finetune",
    "--train",
    "jets.h5",
    "--steps",
    "2",
    "--unfreeze-at",
    "5",
    "--batch",
    "8",
    "--max-eval-jets",
    "16",
  ]);
  if (
    r.code !== 0 || !r.err.includes("--steps 2 <= --unfreeze-at 5: the backbone never unfreezes")
  ) {
    throw new Error(`${r.code}\n${r.err}`);
  }
});
