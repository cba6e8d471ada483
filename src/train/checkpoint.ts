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
import {
  decodeSafetensors,
  encodeSafetensors,
  type NamedTensor,
  writeAtomic,
} from "../data/safetensors.ts";

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

async function params(
  store: ParameterStore,
  kind: "values" | "m" | "v",
  filter?: (name: string) => boolean,
): Promise<Map<string, NamedTensor>> {
  const values = await store.read(kind);
  const out = new Map<string, NamedTensor>();
  for (const p of store.parameters) {
    if (filter && !filter(p.name)) continue;
    out.set(p.name, { shape: p.shape, data: values.get(p.name)! });
  }
  return out;
}

/** Whether a parameter belongs to the backbone (embedding + encoder). */
export function isBackbone(name: string): boolean {
  return name.startsWith("embed.") || name.startsWith("encoder.");
}

/** Writes a full checkpoint into `dir` (atomically, file by file; state.json last). */
export async function saveCheckpoint(
  dir: string,
  store: ParameterStore,
  state: TrainState,
  backboneMeta: Record<string, string>,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await writeAtomic(
    `${dir}/model.safetensors`,
    encodeSafetensors(await params(store, "values"), { step: String(state.step) }),
  );
  const m = await params(store, "m"), v = await params(store, "v");
  const optim = new Map<string, NamedTensor>();
  for (const [k, t] of m) optim.set(`${k}.exp_avg`, t);
  for (const [k, t] of v) optim.set(`${k}.exp_avg_sq`, t);
  await writeAtomic(
    `${dir}/optim.safetensors`,
    encodeSafetensors(optim, { step: String(state.step) }),
  );
  await writeAtomic(
    `${dir}/backbone.safetensors`,
    encodeSafetensors(await params(store, "values", isBackbone), backboneMeta),
  );
  await writeAtomic(`${dir}/state.json`, JSON.stringify(state, null, 1));
}

/** Restores weights, moments and state from `dir`. */
export async function loadCheckpoint(dir: string, store: ParameterStore): Promise<TrainState> {
  const read = async (f: string) => {
    try {
      return decodeSafetensors(await Deno.readFile(`${dir}/${f}`)).tensors;
    } catch (e) {
      throw new Error(
        `${dir}/${f}: cannot read checkpoint (${
          (e as Error).message
        }); resume from another run folder`,
      );
    }
  };
  const model = await read("model.safetensors");
  const optim = await read("optim.safetensors");
  const pick = (map: Map<string, NamedTensor>, suffix = "") =>
    new Map(store.parameters.map((p) => {
      const t = map.get(p.name + suffix);
      if (!t) {
        throw new Error(
          `${dir}: checkpoint lacks "${p.name}${suffix}" (a different model config?)`,
        );
      }
      return [p.name, t.data];
    }));
  store.write(pick(model));
  store.write(pick(optim, ".exp_avg"), "m");
  store.write(pick(optim, ".exp_avg_sq"), "v");
  return JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
}
