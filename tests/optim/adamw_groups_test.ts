// AdamW counts bias correction per parameter group from the group's own first update (PyTorch's
// behaviour when a frozen backbone starts training), checked against the float64 reference.
import { ParameterStore } from "../../src/autograd/parameters.ts";
import { requestGpu } from "../../src/gpu/gpu.ts";
import { AdamW } from "../../src/optim/adamw.ts";
import { adamwRef } from "../reference/optim.ts";
import { assertClose } from "../_helpers/mod.ts";

Deno.test("AdamW: a group unfrozen after U steps starts its bias correction at 1 (float64 reference)", async () => {
  const gpu = await requestGpu();
  const store = new ParameterStore(gpu);
  const n = 5, init = (k: number) => Float32Array.from({ length: n }, (_, i) => 0.1 * (i + 1) * k);
  store.create("head.w", [n], init(1), "head");
  store.create("backbone.w", [n], init(-1), "backbone");
  store.finalize();
  const opt = new AdamW(store, { lr: 1e-2, weightDecay: 1e-2, maxNorm: 0 });
  const grads = (step: number, k: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(step + i * k) * (1 + k));
  // Host reference: head trains from step 1; the backbone from step U + 1 with its own count.
  const ref = {
    head: { p: Float64Array.from(init(1)), m: new Float64Array(n), v: new Float64Array(n), t: 0 },
    backbone: {
      p: Float64Array.from(init(-1)),
      m: new Float64Array(n),
      v: new Float64Array(n),
      t: 0,
    },
  };
  const U = 4, steps = 9;
  store.group("backbone").frozen = true;
  for (let s = 0; s < steps; s++) {
    if (s === U) store.group("backbone").frozen = false;
    // The gradients are written whole each step (queue writes precede the step's commands, so
    // no zeroGrad here: it would clear them).
    const gh = grads(s, 1), gb = grads(s, 2);
    store.write(
      new Map([["head.w", gh], ...(s >= U ? [["backbone.w", gb] as [string, Float32Array]] : [])]),
      "grads",
    );
    opt.step();
    gpu.submit();
    for (const [name, g] of [["head", gh], ["backbone", gb]] as const) {
      if (name === "backbone" && s < U) continue;
      const r = ref[name];
      r.t++;
      adamwRef(r.p, g, r.m, r.v, {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        wd: 1e-2,
        step: r.t,
        maxNorm: 0,
        sumsq: 0,
      });
    }
  }
  const values = await store.read("values");
  assertClose(values.get("head.w")!, ref.head.p, { atol: 1e-6, rtol: 1e-5, label: "head" });
  assertClose(values.get("backbone.w")!, ref.backbone.p, {
    atol: 1e-6,
    rtol: 1e-5,
    label: "backbone",
  });
  if (opt.groupSteps.get("backbone") !== steps - U || opt.groupSteps.get("head") !== steps) {
    throw new Error(`group steps ${[...opt.groupSteps]}`);
  }
  // Counting from the global step would scale the backbone's first update by
  // (0.1 / (1 - 0.9^(U+1))) / sqrt(0.001 / (1 - 0.999^(U+1))): 0.55 here, about 3.2 for U = 5000;
  // the comparison above tells the two apart.
  const firstUpdate = (u: number) =>
    (0.1 / (1 - 0.9 ** (u + 1))) / Math.sqrt(0.001 / (1 - 0.999 ** (u + 1)));
  if (!(Math.abs(firstUpdate(U) - 1) > 0.3 && firstUpdate(5000) > 3)) {
    throw new Error("bias-correction arithmetic");
  }
  gpu.destroy();
});
