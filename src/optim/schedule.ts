/**
 * Learning-rate schedules as pure functions of the step: each returns the factor that
 * multiplies the base learning rate.
 *
 * @module
 */

/** A schedule: step (0-based) -> learning-rate factor. */
export type Schedule = (step: number) => number;

/**
 * Linear warm-up from `initFactor` to 1 over `warmup` steps, then exponential decay with the
 * given half-life, never below `floor` (the reference's `linear_warmup_exp_decay`).
 *
 * @example The paper's pre-training schedule
 * ```ts
 * import { warmupExpDecay } from "@mpm/webgpu/optim";
 * const f = warmupExpDecay({ warmup: 50_000, halfLife: 100_000, floor: 1e-3 });
 * console.assert(f(25_000) === 0.5 && f(150_000) === 0.5);
 * ```
 */
export function warmupExpDecay(
  o: { warmup: number; halfLife: number; floor?: number; initFactor?: number },
): Schedule {
  const init = o.initFactor ?? 0, floor = o.floor ?? 0;
  return (s) => {
    if (s < o.warmup) return init + (1 - init) * (s / o.warmup);
    return Math.max(2 ** (-(s - o.warmup) / o.halfLife), floor);
  };
}

/**
 * Linear warm-up from `initFactor` to 1 over `warmup` steps, then cosine decay to `floor` at
 * `total` steps (constant afterwards).
 *
 * @example
 * ```ts
 * import { warmupCosine } from "@mpm/webgpu/optim";
 * const f = warmupCosine({ warmup: 10, total: 110, floor: 0 });
 * console.assert(f(10) === 1 && Math.abs(f(60) - 0.5) < 1e-12 && f(110) === 0);
 * ```
 */
export function warmupCosine(
  o: { warmup: number; total: number; floor?: number; initFactor?: number },
): Schedule {
  const init = o.initFactor ?? 0, floor = o.floor ?? 0;
  return (s) => {
    if (s < o.warmup) return init + (1 - init) * (s / o.warmup);
    const t = Math.min(1, (s - o.warmup) / Math.max(1, o.total - o.warmup));
    return floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * t));
  };
}

/**
 * A constant factor of 1.
 *
 * @example
 * ```ts
 * import { constant } from "@mpm/webgpu/optim";
 * console.assert(constant()(123) === 1);
 * ```
 */
export function constant(): Schedule {
  return () => 1;
}
