/**
 * Feature preprocessing, fitted on a sample and saved as small JSON files.
 *
 * - {@linkcode QuantileTransform}: the reference's 500-quantile map to a standard normal
 *   (scikit-learn `QuantileTransformer(output_distribution="normal")` semantics), with the
 *   impact-parameter columns fitted on charged particles only, output clipped at ±5.1993, and
 *   (optionally, as the reference does on every load) fresh N(0, 1) noise in the
 *   impact-parameter columns of neutral particles.
 * - {@linkcode Standardization}: per-feature mean and standard deviation.
 *
 * Padded slots stay zero.
 *
 * @module
 */
import { writeAtomic } from "../io/files.ts";
import { Rng } from "./rng.ts";
import { erfc, normalQuantile } from "./calibration.ts";
import { DataError } from "./errors.ts";
import type { JetBlock } from "./types.ts";

/** Output clip of the quantile map: Φ⁻¹(1e-7). */
export const QUANTILE_CLIP = 5.199337582605575;

/** Columns whose quantiles use charged particles only (neutrals have no tracks). */
const IP_COLUMNS = new Set(["d0", "d0err", "dz", "dzerr"]);

const isNeutral = (id: number) => id === 0 || id === 2;

/** Collects per-column samples from blocks (IP columns: charged particles only). */
function collect(
  blocks: Iterable<JetBlock>,
  maxParticles: number,
): { features: readonly string[]; cols: number[][] } {
  let features: readonly string[] | null = null;
  let cols: number[][] = [];
  let taken = 0;
  for (const b of blocks) {
    if (!features) {
      features = b.features;
      cols = features.map(() => []);
    }
    const F = b.features.length;
    for (let i = 0; i < b.n * b.nParticles && taken < maxParticles; i++) {
      if (!b.valid[i]) continue;
      taken++;
      const neutral = b.ids ? isNeutral(b.ids[i]) : false;
      for (let c = 0; c < F; c++) {
        if (neutral && IP_COLUMNS.has(features[c])) continue;
        cols[c].push(b.csts[i * F + c]);
      }
    }
    if (taken >= maxParticles) break;
  }
  if (!features) throw new RangeError("preprocessing fit: no data");
  return { features, cols };
}

/** numpy-style linear-interpolated quantiles of sorted data at the given levels. */
function quantiles(sorted: Float64Array, levels: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < levels; k++) {
    const pos = (k / (levels - 1)) * (sorted.length - 1);
    const lo = Math.floor(pos), hi = Math.min(lo + 1, sorted.length - 1);
    out.push(sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]));
  }
  return out;
}

/** np.interp(x, xp, fp) for increasing xp (ties allowed), clamped at the ends. */
function interp(x: number, xp: readonly number[], fp: readonly number[]): number {
  const n = xp.length;
  if (x <= xp[0]) return fp[0];
  if (x >= xp[n - 1]) return fp[n - 1];
  let a = 0, b = n - 1;
  while (b - a > 1) {
    const m = (a + b) >> 1;
    if (xp[m] <= x) a = m;
    else b = m;
  }
  const dx = xp[b] - xp[a];
  return dx === 0 ? fp[b] : fp[a] + ((x - xp[a]) / dx) * (fp[b] - fp[a]);
}

/** Serialised form of a preprocessor. */
export type PreprocessorJson =
  | { kind: "quantile"; features: string[]; quantiles: number[][]; neutralNoise: boolean }
  | { kind: "standard"; features: string[]; mean: number[]; std: number[] };

/** Something that normalises a block's features. */
export interface Preprocessor {
  /** Feature names it was fitted on. */
  readonly features: readonly string[];
  /** Normalised copy of `block.csts` (padded slots zero). `jetIndex` seeds any noise per jet. */
  transform(block: JetBlock, options?: { seed?: number; jetIndex?: number }): Float32Array;
  /** Maps a normalised value of column `c` back to physical units (for generated samples). */
  inverse(c: number, y: number): number;
  /** Serialisable form. */
  toJSON(): PreprocessorJson;
}

/**
 * The reference's quantile-normal transform.
 *
 * @example
 * ```ts
 * import { QuantileTransform, synthJetClass } from "@mpm/webgpu/data";
 * const qt = QuantileTransform.fit([synthJetClass(200, { seed: 1 })]);
 * const x = qt.transform(synthJetClass(10, { seed: 2 }));
 * console.assert(x.every((v) => Math.abs(v) <= 5.2));
 * ```
 */
export class QuantileTransform implements Preprocessor {
  /** Feature names. */
  readonly features: readonly string[];
  /** quantiles[c][k] at level k / (levels - 1). */
  readonly quantiles: readonly (readonly number[])[];
  /** Replace neutral particles' impact-parameter columns with N(0, 1) noise (reference). */
  neutralNoise: boolean;
  #levels: number[];
  #negRev: number[][];
  #negLevels: number[];

  /** Builds from fitted quantiles. */
  constructor(
    features: readonly string[],
    quantiles: readonly (readonly number[])[],
    neutralNoise = true,
  ) {
    this.features = features;
    this.quantiles = quantiles;
    this.neutralNoise = neutralNoise;
    const L = quantiles[0].length;
    this.#levels = Array.from({ length: L }, (_, k) => k / (L - 1));
    this.#negLevels = [...this.#levels].reverse().map((v) => -v);
    this.#negRev = quantiles.map((q) => [...q].reverse().map((v) => -v));
  }

  /** Fits `levels` quantiles (default 500) on at most `maxParticles` real particles. */
  static fit(
    blocks: Iterable<JetBlock>,
    options: { levels?: number; maxParticles?: number; neutralNoise?: boolean } = {},
  ): QuantileTransform {
    const { features, cols } = collect(blocks, options.maxParticles ?? 5_000_000);
    const L = options.levels ?? 500;
    const qs = cols.map((c, i) => {
      if (c.length < 2) {
        throw new RangeError(`quantile fit: column ${features[i]} has ${c.length} values`);
      }
      return quantiles(Float64Array.from(c).sort(), L);
    });
    return new QuantileTransform(features, qs, options.neutralNoise ?? true);
  }

  /** Maps one value of column `c` to normal scores (the reference's two-sided interpolation). */
  map(c: number, x: number): number {
    const q = this.quantiles[c];
    let u: number;
    if (x - 1e-7 < q[0]) u = 0;
    else if (x + 1e-7 > q[q.length - 1]) u = 1;
    else u = 0.5 * (interp(x, q, this.#levels) - interp(-x, this.#negRev[c], this.#negLevels));
    return Math.max(-QUANTILE_CLIP, Math.min(QUANTILE_CLIP, normalQuantile(u)));
  }

  /** Inverse map (normal score to physical value), for generated samples. */
  inverse(c: number, y: number): number {
    const u = 0.5 * erfc(-y / Math.SQRT2);
    return interp(u, this.#levels, this.quantiles[c]);
  }

  transform(block: JetBlock, options: { seed?: number; jetIndex?: number } = {}): Float32Array {
    checkFeatures(this.features, block);
    const F = block.features.length, out = new Float32Array(block.csts.length);
    const ipCols = this.features.map((f) => IP_COLUMNS.has(f));
    for (let j = 0; j < block.n; j++) {
      const noise = this.neutralNoise && block.ids
        ? new Rng((options.seed ?? 0) ^ 0x6e6f6973, (options.jetIndex ?? 0) + j)
        : null;
      for (let k = 0; k < block.nParticles; k++) {
        const i = j * block.nParticles + k;
        if (!block.valid[i]) continue;
        const neutral = noise !== null && isNeutral(block.ids![i]);
        for (let c = 0; c < F; c++) {
          out[i * F + c] = neutral && ipCols[c] ? noise!.n() : this.map(c, block.csts[i * F + c]);
        }
      }
    }
    return out;
  }

  toJSON(): PreprocessorJson {
    return {
      kind: "quantile",
      features: [...this.features],
      quantiles: this.quantiles.map((q) => [...q]),
      neutralNoise: this.neutralNoise,
    };
  }
}

function checkFeatures(expected: readonly string[], block: JetBlock): void {
  if (expected.join() !== block.features.join()) {
    throw new DataError(
      { file: "(preprocessor)", field: "features" },
      `fitted on [${expected}], data has [${block.features}]`,
      "fit a preprocessor on data with the same features (`deno task data fit`)",
    );
  }
}

/**
 * Per-feature standardisation `(x - mean) / std` (IP columns fitted on charged particles).
 *
 * @example
 * ```ts
 * import { Standardization, synthJetClass } from "@mpm/webgpu/data";
 * const st = Standardization.fit([synthJetClass(100, { seed: 1 })]);
 * console.assert(st.std.every((s) => s > 0));
 * ```
 */
export class Standardization implements Preprocessor {
  /** Feature names. */
  readonly features: readonly string[];
  /** Per-feature means. */
  readonly mean: readonly number[];
  /** Per-feature standard deviations. */
  readonly std: readonly number[];

  /** Builds from fitted statistics. */
  constructor(features: readonly string[], mean: readonly number[], std: readonly number[]) {
    this.features = features;
    this.mean = mean;
    this.std = std;
  }

  /** Fits on at most `maxParticles` real particles. */
  static fit(blocks: Iterable<JetBlock>, options: { maxParticles?: number } = {}): Standardization {
    const { features, cols } = collect(blocks, options.maxParticles ?? 5_000_000);
    const mean = cols.map((c) => c.reduce((a, b) => a + b, 0) / Math.max(c.length, 1));
    const std = cols.map((c, i) =>
      Math.sqrt(c.reduce((a, b) => a + (b - mean[i]) ** 2, 0) / Math.max(c.length, 1)) || 1
    );
    return new Standardization(features, mean, std);
  }

  transform(block: JetBlock): Float32Array {
    checkFeatures(this.features, block);
    const F = block.features.length, out = new Float32Array(block.csts.length);
    for (let i = 0; i < block.n * block.nParticles; i++) {
      if (!block.valid[i]) continue;
      for (let c = 0; c < F; c++) {
        out[i * F + c] = (block.csts[i * F + c] - this.mean[c]) / this.std[c];
      }
    }
    return out;
  }

  /** Inverse map (normalised to physical value). */
  inverse(c: number, y: number): number {
    return y * this.std[c] + this.mean[c];
  }

  toJSON(): PreprocessorJson {
    return {
      kind: "standard",
      features: [...this.features],
      mean: [...this.mean],
      std: [...this.std],
    };
  }
}

/**
 * Rebuilds a preprocessor from its JSON form.
 *
 * @example
 * ```ts
 * import { preprocessorFromJson, Standardization } from "@mpm/webgpu/data";
 * const st = new Standardization(["pt"], [1], [2]);
 * console.assert(preprocessorFromJson(JSON.parse(JSON.stringify(st))).features[0] === "pt");
 * ```
 */
export function preprocessorFromJson(json: PreprocessorJson): Preprocessor {
  if (json.kind === "quantile") {
    return new QuantileTransform(json.features, json.quantiles, json.neutralNoise);
  }
  if (json.kind === "standard") return new Standardization(json.features, json.mean, json.std);
  throw new RangeError(`unknown preprocessor kind ${(json as { kind: string }).kind}`);
}

/** Writes a preprocessor as JSON (atomically: temporary file, then rename). */
export async function savePreprocessor(path: string, p: Preprocessor): Promise<void> {
  await writeAtomic(path, JSON.stringify(p.toJSON()));
}

/** Reads a preprocessor JSON file. */
export async function loadPreprocessor(path: string): Promise<Preprocessor> {
  let json: PreprocessorJson;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new DataError(
      { file: path },
      `cannot read preprocessor (${(e as Error).message})`,
      "re-create it with `deno task data fit`",
    );
  }
  return preprocessorFromJson(json);
}
