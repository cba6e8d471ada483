/**
 * Named weights in files: the one place where safetensors files become parameter values and
 * parameter values become files. Backbones, checkpoints, tokenizers, generation and fine-tuning
 * all read and write through {@linkcode readWeights}, {@linkcode loadWeights} and
 * {@linkcode writeWeights}, so every mismatch is reported the same way: the file, the tensor, what
 * it holds and what the model expects.
 *
 * A selection picks the parameters concerned (all, a group, name prefixes, or a predicate);
 * `rename` maps a parameter name to its name in the file (optimizer moments live under
 * `<name>.exp_avg`, as in PyTorch's AdamW state).
 *
 * @module
 */
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from "../io/safetensors.ts";
import { writeAtomic } from "../io/files.ts";
import type { ArenaKind, Parameter, ParameterStore } from "./parameters.ts";

/** A decoded weights file. */
export interface WeightsFile {
  /** Where it was read from (named in every error). */
  path: string;
  /** Tensors by name. */
  tensors: Map<string, NamedTensor>;
  /** String metadata (`__metadata__`). */
  metadata: Record<string, string>;
}

/** Which parameters of a store a load or a write concerns. */
export interface WeightSelection {
  /** Only parameters of this group. */
  group?: string;
  /** Only parameters whose name starts with one of these. */
  prefixes?: readonly string[];
  /** Only parameters this predicate accepts. */
  filter?: (name: string) => boolean;
}

/** Options of {@linkcode loadWeights}. */
export interface LoadWeightsOptions extends WeightSelection {
  /** Name of a parameter in the file (default: the same name). */
  rename?: (name: string) => string;
  /** Arena to fill: `values` (default), or the AdamW moments `m` / `v`. */
  kind?: ArenaKind;
  /** A selected parameter the file lacks: an error (default), or left as it is. */
  missing?: "error" | "keep";
  /**
   * Tensors of the file that no selected parameter takes: ignored (default), or an error (a
   * backbone file whose metadata describes fewer layers than its tensors hold).
   */
  unused?: "ignore" | "error";
  /** What to do about it, appended to errors (e.g. "re-run `deno task pretrain`"). */
  fix?: string;
}

/** An error in a weights file: the file, the tensor, the problem and the fix. */
export class WeightsError extends Error {
  /** The file. */
  readonly file: string;
  /** The tensor concerned, when one is. */
  readonly tensor?: string;

  /** Builds `${file}: tensor "${tensor}" ${problem}; ${fix}`. */
  constructor(file: string, tensor: string | undefined, problem: string, fix?: string) {
    super(`${file}: ${tensor ? `tensor "${tensor}" ` : ""}${problem}${fix ? `; ${fix}` : ""}`);
    this.name = "WeightsError";
    this.file = file;
    this.tensor = tensor;
  }
}

/**
 * Reads and decodes a safetensors file.
 *
 * @param path the file
 * @param expect optional checks: the metadata `format` tag it must carry, and the fix to name
 * @returns the tensors and metadata
 * @throws {WeightsError} when the file cannot be read, is not safetensors, or has another format
 * @example
 * ```ts ignore
 * import { readWeights } from "@mpm/webgpu/autograd";
 * const w = await readWeights("run/backbone.safetensors", { format: "mpm-webgpu-backbone/1" });
 * console.log(w.metadata.encoder);
 * ```
 */
export async function readWeights(
  path: string,
  expect: { format?: string; what?: string; fix?: string } = {},
): Promise<WeightsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new WeightsError(path, undefined, `cannot be read (${(e as Error).message})`, expect.fix);
  }
  let parsed;
  try {
    parsed = decodeSafetensors(bytes);
  } catch (e) {
    throw new WeightsError(
      path,
      undefined,
      `is not a readable ${expect.what ?? "safetensors file"} (${(e as Error).message})`,
      expect.fix,
    );
  }
  if (expect.format && parsed.metadata.format !== expect.format) {
    throw new WeightsError(
      path,
      undefined,
      `is not ${expect.what ? `an @mpm/webgpu ${expect.what}` : `a "${expect.format}" file`} ` +
        `(format tag "${parsed.metadata.format ?? "none"}", expected "${expect.format}")`,
      expect.fix,
    );
  }
  return { path, ...parsed };
}

/** The parameters of `store` that a selection picks, in registration order. */
export function selectParameters(store: ParameterStore, sel: WeightSelection = {}): Parameter[] {
  return store.parameters.filter((p) =>
    (sel.group === undefined || p.group.name === sel.group) &&
    (!sel.prefixes || sel.prefixes.some((x) => p.name.startsWith(x))) &&
    (!sel.filter || sel.filter(p.name))
  );
}

/**
 * Fills the selected parameters from a weights file: their initial values before
 * `store.finalize()` (only `kind: "values"`), their arena after it.
 *
 * @param store the store
 * @param file a decoded file ({@linkcode readWeights})
 * @param o selection, renaming, arena and strictness
 * @returns the names of the parameters filled
 * @throws {WeightsError} for a missing tensor, a shape that differs, or (with `unused: "error"`)
 *   tensors no parameter takes
 * @example
 * ```ts ignore
 * import { loadWeights, readWeights } from "@mpm/webgpu/autograd";
 * loadWeights(store, await readWeights("run/model.safetensors"), { group: "backbone" });
 * ```
 */
export function loadWeights(
  store: ParameterStore,
  file: WeightsFile,
  o: LoadWeightsOptions = {},
): string[] {
  const kind = o.kind ?? "values", rename = o.rename ?? ((n: string) => n);
  if (!store.finalized && kind !== "values") {
    throw new Error(`loadWeights: arena "${kind}" can only be filled after store.finalize()`);
  }
  const loaded: string[] = [], used = new Set<string>(), values = new Map<string, Float32Array>();
  for (const p of selectParameters(store, o)) {
    const name = rename(p.name), t = file.tensors.get(name);
    if (!t) {
      if (o.missing === "keep") continue;
      throw new WeightsError(
        file.path,
        name,
        `is missing; the model expects shape [${p.shape}]`,
        o.fix ?? "was the file written for another model configuration?",
      );
    }
    if (t.shape.join() !== p.shape.join() || t.data.length !== p.size) {
      throw new WeightsError(
        file.path,
        name,
        `has shape [${t.shape}]; the model expects shape [${p.shape}]`,
        o.fix ?? "was the file written for another model configuration?",
      );
    }
    used.add(name);
    loaded.push(p.name);
    if (store.finalized) values.set(p.name, t.data);
    else p.initial = t.data;
  }
  if (o.unused === "error") {
    const extra = [...file.tensors.keys()].filter((n) => !used.has(n));
    if (extra.length) {
      throw new WeightsError(
        file.path,
        undefined,
        `holds ${extra.length} tensor(s) the model does not have (${
          extra.slice(0, 3).map((n) => `"${n}"`).join(", ")
        }${extra.length > 3 ? ", ..." : ""}): its metadata does not describe its tensors`,
        o.fix ?? "the file is inconsistent; write it again",
      );
    }
  }
  if (values.size) store.write(values, kind);
  return loaded;
}

/**
 * The selected parameters' values as named tensors (one GPU readback per group).
 *
 * @param store a finalised store
 * @param o selection, arena and renaming
 * @returns tensors by (renamed) name
 */
export async function collectWeights(
  store: ParameterStore,
  o: WeightSelection & { kind?: ArenaKind; rename?: (name: string) => string } = {},
): Promise<Map<string, NamedTensor>> {
  const values = await store.read(o.kind ?? "values");
  const out = new Map<string, NamedTensor>();
  for (const p of selectParameters(store, o)) {
    out.set(o.rename ? o.rename(p.name) : p.name, { shape: p.shape, data: values.get(p.name)! });
  }
  return out;
}

/**
 * Writes tensors (from {@linkcode collectWeights}, or any) and metadata to a safetensors file,
 * atomically.
 *
 * @param path target file
 * @param tensors tensors by name
 * @param metadata string metadata (a `format` tag names the kind of file)
 * @example
 * ```ts ignore
 * import { collectWeights, writeWeights } from "@mpm/webgpu/autograd";
 * await writeWeights("head.safetensors", await collectWeights(store, { group: "head" }), { task: "classify" });
 * ```
 */
export async function writeWeights(
  path: string,
  tensors: Map<string, NamedTensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeAtomic(path, encodeSafetensors(tensors, metadata));
}
