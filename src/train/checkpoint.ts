/**
 * Crash-consistent checkpoints. A checkpoint is the set of files of one step — `model.safetensors`
 * (weights, PyTorch-style names), `optim.safetensors` (AdamW moments), `state.json` (step, loader
 * position, seed, time) and `backbone.safetensors` (embedding + encoder, for downstream use) — and
 * it is all-or-nothing:
 *
 * 1. the files are written into `checkpoints/.step-N.tmp-PID/`, each carrying the step;
 * 2. the folder is renamed to `checkpoints/step-N/`;
 * 3. `checkpoint.json` (the manifest: step, folder, file sizes) is replaced atomically — the
 *    switch: before it the previous checkpoint is the run's, after it this one;
 * 4. the run folder's `model.safetensors`, `optim.safetensors`, `state.json` and
 *    `backbone.safetensors` become hard links to the new files (what users and other tools read);
 * 5. older step folders and leftovers of interrupted writes are removed.
 *
 * A kill at any point leaves a run that resumes from the last complete checkpoint. Loading checks
 * that every file exists, has the recorded size and carries the manifest's step, and refuses a mix
 * naming the files.
 *
 * @module
 */
import type { ParameterStore } from "../autograd/parameters.ts";
import { collectWeights, loadWeights, readWeights, writeWeights } from "../autograd/weights.ts";
import type { LoaderState } from "../data/loader.ts";
import { exists, faultPoint, linkAtomic, publishDir, writeAtomic } from "../io/files.ts";
import type { NamedTensor } from "../io/safetensors.ts";

/** Resumable training state. */
export interface TrainState {
  /** Optimiser steps done. */
  step: number;
  /** Training loader position. */
  loader: LoaderState;
  /** Run seed. */
  seed: number;
  /** Wall-clock seconds spent so far. */
  elapsed: number;
}

/** Format tag of `checkpoint.json`. */
export const CHECKPOINT_FORMAT = "mpm-webgpu-checkpoint/1";

/** The files of a checkpoint, in write order. */
export const CHECKPOINT_FILES = [
  "model.safetensors",
  "optim.safetensors",
  "backbone.safetensors",
  "state.json",
] as const;

/** `checkpoint.json`: which step folder holds the run's checkpoint. */
export interface CheckpointManifest {
  /** {@linkcode CHECKPOINT_FORMAT}. */
  format: string;
  /** The step. */
  step: number;
  /** The folder, relative to the run. */
  dir: string;
  /** Size in bytes of each file. */
  files: Record<string, number>;
}

/** A checkpoint that cannot be used: the files concerned, and the fix. */
export class CheckpointError extends Error {
  /** The error, its message naming the files and the fix. */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/** Whether a parameter belongs to the backbone (embedding + encoder). */
export function isBackbone(name: string): boolean {
  return name.startsWith("embed.") || name.startsWith("encoder.");
}

const MOMENTS = [["m", ".exp_avg"], ["v", ".exp_avg_sq"]] as const;

function stepDir(step: number): string {
  return `checkpoints/step-${String(step).padStart(9, "0")}`;
}

/**
 * Writes a checkpoint of `store` at `state.step` into the run folder `dir` (see the module
 * documentation for the sequence).
 *
 * @param dir run folder
 * @param store the run's parameters and moments
 * @param state step, loader position, seed, time
 * @param backbone writes `backbone.safetensors` to a path
 */
export async function saveCheckpoint(
  dir: string,
  store: ParameterStore,
  state: TrainState,
  backbone: { save(path: string): Promise<void> },
): Promise<void> {
  const rel = stepDir(state.step), final = `${dir}/${rel}`;
  await Deno.mkdir(`${dir}/checkpoints`, { recursive: true });
  const tmp = `${dir}/checkpoints/.${rel.split("/")[1]}.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp);
  const step = { step: String(state.step) };
  await writeWeights(`${tmp}/model.safetensors`, await collectWeights(store), step);
  faultPoint("checkpoint model.safetensors");
  const optim = new Map<string, NamedTensor>();
  for (const [kind, suffix] of MOMENTS) {
    for (const [k, t] of await collectWeights(store, { kind, rename: (n) => n + suffix })) {
      optim.set(k, t);
    }
  }
  await writeWeights(`${tmp}/optim.safetensors`, optim, step);
  faultPoint("checkpoint optim.safetensors");
  await backbone.save(`${tmp}/backbone.safetensors`);
  faultPoint("checkpoint backbone.safetensors");
  await writeAtomic(`${tmp}/state.json`, JSON.stringify(state, null, 1));
  faultPoint("checkpoint state.json");
  await publishDir(tmp, final);
  faultPoint("checkpoint folder renamed");
  const files: Record<string, number> = {};
  for (const f of CHECKPOINT_FILES) files[f] = (await Deno.stat(`${final}/${f}`)).size;
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    step: state.step,
    dir: rel,
    files,
  };
  await writeAtomic(`${dir}/checkpoint.json`, JSON.stringify(manifest, null, 1));
  faultPoint("checkpoint.json switched");
  for (const f of CHECKPOINT_FILES) {
    await linkAtomic(`${final}/${f}`, `${dir}/${f}`);
    faultPoint(`checkpoint export ${f}`);
  }
  await pruneCheckpoints(dir, rel);
}

/** Removes step folders other than `keep`, and leftovers of interrupted writes. */
async function pruneCheckpoints(dir: string, keep: string): Promise<void> {
  for await (const e of Deno.readDir(`${dir}/checkpoints`)) {
    if (`checkpoints/${e.name}` !== keep) {
      await Deno.remove(`${dir}/checkpoints/${e.name}`, { recursive: true }).catch(() => {});
    }
  }
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.includes(".tmp-")) await Deno.remove(`${dir}/${e.name}`).catch(() => {});
  }
}

/**
 * The run's checkpoint: its manifest, checked (every file present, of the recorded size, and the
 * step-carrying files at the manifest's step). Runs written before manifests existed (files at
 * the top level only) are checked the same way.
 *
 * @throws {CheckpointError} naming the files and the fix
 */
export async function readCheckpoint(dir: string): Promise<CheckpointManifest> {
  let manifest: CheckpointManifest;
  if (await exists(`${dir}/checkpoint.json`)) {
    try {
      manifest = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`));
    } catch (e) {
      throw new CheckpointError(
        `${dir}/checkpoint.json: unreadable (${
          (e as Error).message
        }); the run's checkpoint is lost`,
      );
    }
    if (manifest.format !== CHECKPOINT_FORMAT || !Number.isInteger(manifest.step)) {
      throw new CheckpointError(`${dir}/checkpoint.json: not a ${CHECKPOINT_FORMAT} manifest`);
    }
  } else {
    const files: Record<string, number> = {};
    for (const f of ["model.safetensors", "optim.safetensors", "state.json"]) {
      if (!(await exists(`${dir}/${f}`))) {
        throw new CheckpointError(
          `${dir}: no checkpoint (${f} is missing); the run stopped before its first checkpoint — start it again with --overwrite`,
        );
      }
      files[f] = (await Deno.stat(`${dir}/${f}`)).size;
    }
    manifest = { format: "legacy", step: NaN, dir: ".", files };
  }
  await verifyFiles(dir, manifest);
  return manifest;
}

/** Every file of a manifest exists with its size; model, optim and state carry one step. */
async function verifyFiles(dir: string, m: CheckpointManifest): Promise<void> {
  const base = `${dir}/${m.dir}`, steps: string[] = [];
  for (const [f, bytes] of Object.entries(m.files)) {
    let size: number;
    try {
      size = (await Deno.stat(`${base}/${f}`)).size;
    } catch {
      throw new CheckpointError(
        `${base}/${f} is missing; the checkpoint of step ${m.step} is incomplete`,
      );
    }
    if (size !== bytes) {
      throw new CheckpointError(
        `${base}/${f} has ${size} bytes, the manifest ${bytes}; the checkpoint of step ${m.step} was altered`,
      );
    }
  }
  const stepOf = async (f: string): Promise<number> => {
    if (f === "state.json") {
      const s = JSON.parse(await Deno.readTextFile(`${base}/${f}`));
      return typeof s.step === "number" && Number.isInteger(s.step) && s.step >= 0 ? s.step : NaN;
    }
    return Number((await readWeights(`${base}/${f}`)).metadata.step);
  };
  const found: Record<string, number> = {};
  for (const f of ["model.safetensors", "optim.safetensors", "state.json"]) {
    found[f] = await stepOf(f);
    steps.push(`${f} at step ${found[f]}`);
  }
  const values = Object.values(found);
  const want = Number.isNaN(m.step) ? values[0] : m.step;
  if (values.some((v) => !Number.isInteger(v) || v !== want)) {
    throw new CheckpointError(
      `${base}: the checkpoint files disagree (${steps.join(", ")}${
        Number.isNaN(m.step) ? "" : `; checkpoint.json says ${m.step}`
      }); it was interrupted while being written — restore a complete copy, or start again with --overwrite`,
    );
  }
  m.step = want;
}

/**
 * Restores weights, moments and state from the run's checkpoint (checked by
 * {@linkcode readCheckpoint}).
 *
 * @throws {CheckpointError} for a missing, incomplete or mixed checkpoint
 */
export async function loadCheckpoint(dir: string, store: ParameterStore): Promise<TrainState> {
  const m = await readCheckpoint(dir), base = `${dir}/${m.dir}`;
  // A kill after the manifest switch can leave the top-level copies at the previous step.
  if (m.dir !== ".") {
    for (const f of Object.keys(m.files)) await linkAtomic(`${base}/${f}`, `${dir}/${f}`);
  }
  const fix = "resume from another run folder";
  const cfg = { fix: "a different model config? resume with the run's own config.json" };
  loadWeights(store, await readWeights(`${base}/model.safetensors`, { fix }), cfg);
  const optim = await readWeights(`${base}/optim.safetensors`, { fix });
  for (const [kind, suffix] of MOMENTS) {
    loadWeights(store, optim, { ...cfg, kind, rename: (n) => n + suffix });
  }
  return JSON.parse(await Deno.readTextFile(`${base}/state.json`));
}
