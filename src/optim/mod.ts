/**
 * Optimisers and learning-rate schedules.
 *
 * @example
 * ```ts
 * import { warmupExpDecay } from "@mpm/webgpu/optim";
 * const schedule = warmupExpDecay({ warmup: 50_000, halfLife: 100_000, floor: 1e-3 });
 * console.assert(schedule(0) === 0);
 * ```
 *
 * @module
 */
export * from "./adamw.ts";
export * from "./schedule.ts";
