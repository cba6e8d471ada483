// Learning-rate schedules against the reference formulas.
import { constant, warmupCosine, warmupExpDecay } from "../../src/optim/schedule.ts";
import { assertClose } from "../_helpers/mod.ts";

Deno.test("warmupExpDecay: linear warm-up, 100k half-life, floor 1e-3 (paper schedule)", () => {
  const f = warmupExpDecay({ warmup: 50_000, halfLife: 100_000, floor: 1e-3 });
  assertClose(
    [0, 25_000, 50_000, 150_000, 250_000, 5_000_000].map(f),
    [0, 0.5, 1, 0.5, 0.25, 1e-3],
    { atol: 1e-12 },
  );
});

Deno.test("warmupCosine: starts at initFactor, peaks after warm-up, ends at the floor", () => {
  const f = warmupCosine({ warmup: 10_000, total: 200_000, floor: 1e-3, initFactor: 0.1 });
  assertClose([0, 5_000, 10_000, 105_000, 200_000, 300_000].map(f), [
    0.1,
    0.55,
    1,
    0.5005,
    1e-3,
    1e-3,
  ], { atol: 1e-12 });
  assertClose([constant()(7)], [1]);
});
