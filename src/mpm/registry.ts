/**
 * The registry of pre-training tasks: the one list of task definitions, and everything asked
 * of it — names, defaults and combination rules for the command line; the tasks, the probe and
 * the masking of a run for the training loop. Adding a task is its own file (a
 * {@linkcode PretrainTaskDef}) plus one line in {@linkcode PRETRAIN_TASKS}.
 *
 * @module
 */
import type { ParameterStore } from "../autograd/parameters.ts";
import { randomMasking } from "../data/masking.ts";
import type { InitRng } from "../nn/init.ts";
import { CFM_TASK } from "./cfm.ts";
import { CNF_TASK } from "./cnf.ts";
import { type MPMConfig, type TaskSettings, withSSFM } from "./config.ts";
import { KMEANS_TASK } from "./kmeans.ts";
import { SSFM_TASK } from "./ssfm.ts";
import {
  ID_TASK,
  LinearProbe,
  type MaskingFn,
  type PretrainTask,
  type PretrainTaskDef,
  REG_TASK,
  type TaskBuildContext,
} from "./tasks.ts";
import { VQVAE_TASK } from "./vqvae.ts";

/** Every pre-training task, in the order of their loss columns. */
export const PRETRAIN_TASKS: readonly PretrainTaskDef[] = [
  ID_TASK,
  REG_TASK,
  KMEANS_TASK,
  VQVAE_TASK,
  CFM_TASK,
  CNF_TASK,
  SSFM_TASK,
];

/** The probe's name in `--tasks` (monitoring, not a term of the objective). */
export const PROBE = "probe";

/**
 * A task definition by name.
 *
 * @throws {Error} naming the available tasks
 * @example
 * ```ts
 * import { taskDef } from "@mpm/webgpu/mpm";
 * console.assert(taskDef("reg").defaults().weight === 1);
 * ```
 */
export function taskDef(name: string): PretrainTaskDef {
  const d = PRETRAIN_TASKS.find((t) => t.name === name);
  if (!d) throw new Error(`unknown task "${name}" (available: ${taskNames().join(", ")})`);
  return d;
}

/** Names accepted by `--tasks`, the probe included. */
export function taskNames(): string[] {
  return [...PRETRAIN_TASKS.map((t) => t.name), PROBE];
}

/** The enabled tasks of a configuration with their settings, in registry order. */
export function enabledTasks(config: MPMConfig): [PretrainTaskDef, TaskSettings][] {
  return PRETRAIN_TASKS.filter((d) => config.tasks[d.name]).map((d) => [
    d,
    config.tasks[d.name] as TaskSettings,
  ]);
}

/** Options of {@linkcode selectTasks}: files that tasks need, by settings key. */
export interface TaskFiles {
  /** K-Means codebook (`--kmeans`). */
  codebook?: string;
  /** VQ-VAE tokenizer (`--tokenizer`). */
  tokenizer?: string;
}

/**
 * The configuration with exactly the tasks `names` enabled (`--tasks id,reg,probe`): settings
 * already in the config are kept, others come from each task's defaults; a task that owns an
 * objective (`ssfm`) switches the config to it and combines only with the probe; a task that
 * requires something of the encoder gets it (`cnf`: the final LayerNorm, as the reference).
 *
 * @throws {Error} for an unknown task, a missing file (naming its flag), or a bad combination
 * @example
 * ```ts
 * import { preset, selectTasks } from "@mpm/webgpu/mpm";
 * const c = selectTasks(preset("small"), ["reg", "probe"]);
 * console.assert(c.tasks.reg && !c.tasks.id && c.tasks.probe);
 * ```
 */
export function selectTasks(
  config: MPMConfig,
  names: readonly string[],
  files: TaskFiles = {},
): MPMConfig {
  const want = new Set(names);
  for (const n of want) if (n !== PROBE) taskDef(n);
  const owner = PRETRAIN_TASKS.find((d) => d.ownsObjective && want.has(d.name));
  if (owner) {
    const others = [...want].filter((t) => t !== owner.name && t !== PROBE);
    if (others.length) {
      throw new Error(
        `--tasks ${owner.name} combines only with probe (its objective '${owner.ownsObjective}' has no mask-token decoder for [${others}])`,
      );
    }
  }
  for (const d of PRETRAIN_TASKS) {
    const r = d.requires;
    if (!r || !want.has(d.name)) continue;
    const given = files[r.key as keyof TaskFiles] ??
      (config.tasks[d.name] as TaskSettings | undefined)?.[r.key];
    if (!given) throw new Error(`--tasks ${d.name} needs ${r.flag} (${r.how})`);
  }
  let out: MPMConfig = structuredClone(config);
  const probe = config.tasks.probe ?? { every: 10, classes: 10 };
  out.tasks = {};
  for (const d of PRETRAIN_TASKS) {
    if (!want.has(d.name)) continue;
    const s = { ...(config.tasks[d.name] as TaskSettings | undefined ?? d.defaults()) };
    const key = d.requires?.key;
    if (key && files[key as keyof TaskFiles]) s[key] = files[key as keyof TaskFiles];
    out.tasks[d.name] = s;
  }
  if (want.has(PROBE)) out.tasks.probe = probe;
  for (const d of PRETRAIN_TASKS) {
    const s = out.tasks[d.name] as TaskSettings | undefined;
    if (s && d.encoder) out.encoder = { ...out.encoder, ...d.encoder(s) };
  }
  if (owner && config.objective !== owner.ownsObjective) {
    const s = out.tasks[owner.name] as TaskSettings;
    out = withSSFM(out, s as { minDrop?: number; maxDrop?: number; sampleSteps?: number });
    if (!want.has(PROBE)) delete out.tasks.probe;
  }
  return out;
}

/**
 * Checks that the objective and the tasks fit together: every task runs with the objective
 * (`ssfm` has no mask-token decoder, so no head on decoder features runs with it), the task
 * that owns the `ssfm` objective is present when it is chosen, particle-type tasks have types,
 * and at least one task is enabled.
 *
 * @throws {Error} naming the task, the objective and the fix
 * @example
 * ```ts
 * import { checkObjective, preset } from "@mpm/webgpu/mpm";
 * const c = preset("small");
 * c.objective = "ssfm";
 * let msg = "";
 * try { checkObjective(c); } catch (e) { msg = (e as Error).message; }
 * console.assert(msg.includes("ssfm"));
 * ```
 */
export function checkObjective(config: MPMConfig): void {
  const enabled = enabledTasks(config);
  const owner = PRETRAIN_TASKS.find((d) => d.ownsObjective === config.objective);
  if (owner && !config.tasks[owner.name]) {
    throw new Error(
      `objective '${config.objective}' needs tasks.${owner.name} (deno task pretrain --tasks ${owner.name}[,probe])`,
    );
  }
  const misfits = enabled.filter(([d]) => !d.objectives.includes(config.objective));
  if (owner && misfits.length) {
    throw new Error(
      `objective '${config.objective}' has no mask-token decoder, so tasks [${
        misfits.map(([d]) => d.name)
      }] cannot run with it; use --tasks ${owner.name}[,probe], or another objective without ${owner.name}`,
    );
  }
  for (const [d] of misfits) {
    throw new Error(
      `tasks.${d.name} needs objective '${
        d.objectives.join("' or '")
      }' (the config has '${config.objective}'); --tasks ${d.name} sets it`,
    );
  }
  for (const [d] of enabled) {
    if (d.needsIds && !config.useIds) {
      throw new Error(
        `task ${d.name} needs particle types (csts_id), and this configuration has useIds: false`,
      );
    }
  }
  if (!enabled.length) {
    throw new Error(
      `no pre-training task enabled (enable ${
        PRETRAIN_TASKS.map((d) => d.name).join(", ")
      }; id needs particle types)`,
    );
  }
}

/**
 * Builds the enabled tasks of a run (their parameters go into `ctx.store`), after
 * {@linkcode checkObjective}.
 */
export async function buildTasks(ctx: TaskBuildContext): Promise<PretrainTask[]> {
  checkObjective(ctx.config);
  const tasks: PretrainTask[] = [];
  for (const [d, s] of enabledTasks(ctx.config)) tasks.push(await d.build(ctx, s));
  return tasks;
}

/** The run's linear probe (monitoring), when `tasks.probe` is set. */
export function buildProbe(
  config: MPMConfig,
  store: ParameterStore,
  rng: InitRng,
): LinearProbe | null {
  const p = config.tasks.probe;
  return p ? new LinearProbe(store, rng, config.encoder.dim, p.classes) : null;
}

/**
 * The run's masking: the objective owner's (`ssfm`: a per-jet fraction drawn from its drop
 * range), else a fixed fraction `config.maskFraction` of each jet, chosen at random, with pT
 * ranks for the ordered mask tokens.
 *
 * @example
 * ```ts
 * import { maskingFor, preset } from "@mpm/webgpu/mpm";
 * const mask = maskingFor(preset("small"));
 * const valid = new Uint32Array(10).fill(1);
 * const m = mask({ size: 1, nParticles: 10, features: ["pt"], x: new Float32Array(10),
 *   raw: new Float32Array(10), ids: new Int32Array(10), valid, streamIndex: 0 }, 1);
 * console.assert(m.count[0] === 4);
 * ```
 */
export function maskingFor(config: MPMConfig): MaskingFn {
  for (const [d, s] of enabledTasks(config)) {
    if (d.ownsObjective === config.objective && d.masking) return d.masking(s, config);
  }
  return (batch, seed) =>
    randomMasking(batch.valid, batch.size, batch.nParticles, {
      seed,
      jetIndex: batch.streamIndex,
      pt: batch.raw,
      ptStride: batch.features.length,
      fraction: config.maskFraction,
    });
}
