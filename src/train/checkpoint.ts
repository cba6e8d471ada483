/**
 * Checkpoints: `model.safetensors` (weights, PyTorch-style names), `optim.safetensors` (AdamW
 * moments), `state.json` (step, loader position, seed), and `backbone.safetensors` (embedding +
 * encoder + registers, with the encoder config and preprocessing in its metadata). Every file
 * is written atomically.
 *
 * @module
 */
import type { ParameterStore } from "../autograd/parameters.ts";
import type { LoaderState } from "../data/loader.ts";
import { collectWeights, loadWeights, readWeights, writeWeights } from "../autograd/weights.ts";
import type { NamedTensor } from "../io/safetensors.ts";
import { writeAtomic } from "../io/files.ts";

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

/** Whether a parameter belongs to the backbone (embedding + encoder). */
export function isBackbone(name: string): boolean {
  return name.startsWith("embed.") || name.startsWith("encoder.");
}

const MOMENTS = [["m", ".exp_avg"], ["v", ".exp_avg_sq"]] as const;

/** Writes a full checkpoint into `dir` (atomically, file by file; state.json last). */
export async function saveCheckpoint(
  dir: string,
  store: ParameterStore,
  state: TrainState,
  backbone: { save(path: string): Promise<void> },
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const step = { step: String(state.step) };
  await writeWeights(`${dir}/model.safetensors`, await collectWeights(store), step);
  const optim = new Map<string, NamedTensor>();
  for (const [kind, suffix] of MOMENTS) {
    for (const [k, t] of await collectWeights(store, { kind, rename: (n) => n + suffix })) {
      optim.set(k, t);
    }
  }
  await writeWeights(`${dir}/optim.safetensors`, optim, step);
  await backbone.save(`${dir}/backbone.safetensors`);
  await writeAtomic(`${dir}/state.json`, JSON.stringify(state, null, 1));
}

/** Restores weights, moments and state from `dir`. */
export async function loadCheckpoint(dir: string, store: ParameterStore): Promise<TrainState> {
  const fix = "resume from another run folder";
  const cfg = { fix: "a different model config? resume with the run's own config.json" };
  loadWeights(store, await readWeights(`${dir}/model.safetensors`, { fix }), cfg);
  const optim = await readWeights(`${dir}/optim.safetensors`, { fix });
  for (const [kind, suffix] of MOMENTS) {
    loadWeights(store, optim, { ...cfg, kind, rename: (n) => n + suffix });
  }
  return JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
}
