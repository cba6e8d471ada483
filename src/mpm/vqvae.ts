/**
 * VQ-VAE particle tokenizer and the MPM task that predicts its codes.
 *
 * Tokenizer (the reference's `vae.py`): Linear(F -> dim) -> transformer encoder with registers
 * and a final LayerNorm -> per particle Linear(dim -> codeDim) = z -> vector quantiser ->
 * Linear(codeDim -> dim) placed back at the particle slots (zeros at padding) -> a second
 * transformer with its own registers (stripped) -> Linear(dim -> F).
 *
 * Quantiser (vector-quantize-pytorch's cosine codebook): codes are unit vectors; a vector's code
 * is the one of largest cosine similarity; straight-through gradient (the decoder sees the code,
 * z receives its gradient unchanged); commitment loss MSE(z, code); the codebook is not trained
 * by gradients but by an EMA (decay 0.8) of the normalised vectors assigned to each code, with
 * codes whose EMA size falls under 2 replaced by batch vectors; k-means initialisation on the
 * first batch. Loss = Huber(reconstruction, input) + 10 x commitment.
 *
 * MPM task: the frozen tokenizer encodes each jet's dropped particles as their own set (the
 * reference runs it with the mask of dropped particles); the head Linear(decoder dim -> codes)
 * predicts each dropped particle's code, cross-entropy with label smoothing 0.05.
 *
 * @module
 */
import * as ops from "../autograd/ops.ts";
import { ParameterStore } from "../autograd/parameters.ts";
import type { Tape } from "../autograd/tape.ts";
import { Rng } from "../data/rng.ts";
import { type Preprocessor, preprocessorFromJson } from "../data/preprocess.ts";
import {
  collectWeights,
  loadWeights,
  readWeights,
  WeightsError,
  type WeightsFile,
  writeWeights,
} from "../autograd/weights.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { axpby } from "../kernels/elementwise.ts";
import { kmeansAssign } from "../kernels/kmeans.ts";
import { gatherRows } from "../kernels/movement.ts";
import { vqEmaUpdate } from "../kernels/vq.ts";
import { InitRng } from "../nn/init.ts";
import { type LayerContext, Linear, TransformerEncoder } from "../nn/layers.ts";
import { fitKMeans } from "./kmeans.ts";
import { droppedSets, type StepInputs } from "./prepare.ts";
import { droppedFeatures, type MPMPassOutput } from "./model.ts";
import { defineTask, type PretrainTask, type PretrainTaskDef } from "./tasks.ts";
import { Validity } from "../nn/validity.ts";

/** Tokenizer shape and quantiser settings. */
export interface TokenizerConfig {
  /** Continuous input features, in order. */
  features: string[];
  /** Transformer width. */
  dim: number;
  /** Blocks of the encoder (and of the decoder). */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** Registers of each transformer. */
  registers: number;
  /** Codes. */
  codebookSize: number;
  /** Code width (at most 32). */
  codeDim: number;
  /** EMA decay of the codebook. */
  decay: number;
  /** EMA cluster size under which a code is replaced. */
  deadThreshold: number;
  /** Weight of the commitment loss. */
  commitWeight: number;
}

/**
 * Tokenizer presets: `paper` (dim 128, 3 layers, 8 heads, 8 registers, 512 x 32 codes, as the
 * reference) and `small` (dim 64, 2 layers, 4 heads, same codebook) for CPUs.
 *
 * @example
 * ```ts
 * import { tokenizerPreset } from "@mpm/webgpu/mpm";
 * const c = tokenizerPreset("paper");
 * console.assert(c.codebookSize === 512 && c.codeDim === 32 && c.decay === 0.8);
 * ```
 */
export function tokenizerPreset(name: "small" | "paper"): TokenizerConfig {
  const common = {
    features: ["pt", "deta", "dphi", "d0", "d0err", "dz", "dzerr"],
    registers: 8,
    codebookSize: 512,
    codeDim: 32,
    decay: 0.8,
    deadThreshold: 2,
    commitWeight: 10,
  };
  return name === "paper"
    ? { ...common, dim: 128, layers: 3, heads: 8 }
    : { ...common, dim: 64, layers: 2, heads: 4 };
}

/** Index maps of a padded batch of particle sets (B, N) with R registers. */
export interface SetMaps {
  /** Real particles. */
  M: number;
  /** (M) row b * (R + N) + R + n of each real particle in a transformer output. */
  rows: Int32Array;
  /** (B * (R + N)) particle index at those rows, -1 elsewhere. */
  rowsInv: Int32Array;
  /** (M) slot b * N + n of each real particle. */
  slots: Int32Array;
  /** (B * N) particle index at each slot, -1 at padding. */
  slotsInv: Int32Array;
}

/**
 * Index maps of the real particles of padded sets, in (jet, slot) order.
 *
 * @example
 * ```ts
 * import { setMaps } from "@mpm/webgpu/mpm";
 * const m = setMaps(new Uint32Array([1, 0, 1, 1]), 2, 2, 1);
 * console.assert(m.M === 3 && m.rows.join() === "1,4,5" && m.slots.join() === "0,2,3");
 * ```
 */
export function setMaps(valid: ArrayLike<number>, B: number, N: number, R: number): SetMaps {
  let M = 0;
  for (let i = 0; i < B * N; i++) if (valid[i]) M++;
  const rows = new Int32Array(M), slots = new Int32Array(M);
  const rowsInv = new Int32Array(B * (R + N)).fill(-1), slotsInv = new Int32Array(B * N).fill(-1);
  let m = 0;
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      if (!valid[b * N + n]) continue;
      rows[m] = b * (R + N) + R + n;
      rowsInv[rows[m]] = m;
      slots[m] = b * N + n;
      slotsInv[b * N + n] = m;
      m++;
    }
  }
  return { M, rows, rowsInv, slots, slotsInv };
}

/** Outputs of a tokenizer pass. */
export interface TokenizerOutput {
  /** (M, F) reconstructed features of the real particles. */
  recon: Tensor;
  /** (M, codeDim) projected vectors before quantisation. */
  z: Tensor;
  /** (M) i32 codes. */
  codes: Tensor;
  /** Commitment loss (1). */
  commit: Tensor;
}

/**
 * The VQ-VAE tokenizer (see the module documentation).
 *
 * @example
 * ```ts ignore
 * const tok = new VQTokenizer(store, tokenizerPreset("small"), new InitRng(1));
 * store.finalize();
 * const { recon, codes } = tok.forward(tape, x, valid); // valid: a Validity of the sets
 * ```
 */
export class VQTokenizer {
  /** Configuration. */
  readonly config: TokenizerConfig;
  /** Parameters (group `tokenizer`). */
  readonly store: ParameterStore;
  /** Input projection. */
  readonly input: Linear;
  /** Encoder. */
  readonly encoder: TransformerEncoder;
  /** dim -> code width. */
  readonly projIn: Linear;
  /** code width -> dim. */
  readonly projOut: Linear;
  /** Decoder. */
  readonly decoder: TransformerEncoder;
  /** Output projection. */
  readonly output: Linear;
  /** (K, codeDim) unit codes. */
  codebook: Tensor;
  /** (K) EMA cluster sizes. */
  size: Tensor;
  /** (K, codeDim) EMA sums. */
  avg: Tensor;

  /** Registers `tokenizer.*` in `store` (group `tokenizer`); the caller finalises it. */
  constructor(store: ParameterStore, config: TokenizerConfig, rng: InitRng) {
    if (config.codeDim > 32) throw new RangeError(`tokenizer: codeDim ${config.codeDim} > 32`);
    this.config = config;
    this.store = store;
    const ctx: LayerContext = { store, rng, group: "tokenizer" };
    const F = config.features.length, D = config.dim;
    const enc = {
      dim: D,
      layers: config.layers,
      heads: config.heads,
      registers: config.registers,
      ffMult: 2,
      finalNorm: true,
      layerScaleInit: 1e-3,
    };
    this.input = new Linear(ctx, "tokenizer.input", F, D);
    this.encoder = new TransformerEncoder(ctx, "tokenizer.encoder", enc);
    this.projIn = new Linear(ctx, "tokenizer.proj_in", D, config.codeDim);
    this.projOut = new Linear(ctx, "tokenizer.proj_out", config.codeDim, D);
    this.decoder = new TransformerEncoder(ctx, "tokenizer.decoder", enc);
    this.output = new Linear(ctx, "tokenizer.output", D, F);
    const gpu = store.gpu, K = config.codebookSize, C = config.codeDim;
    const r = new Rng(7, 0x7671);
    const init = new Float32Array(K * C).map(() => r.n());
    for (let k = 0; k < K; k++) normalise(init.subarray(k * C, (k + 1) * C));
    this.codebook = gpu.upload(init, [K, C]);
    this.avg = gpu.upload(init, [K, C]);
    this.size = gpu.upload(new Float32Array(K).fill(config.deadThreshold), [K]);
  }

  /**
   * Projected vectors z (M, codeDim) of the real particles of sets x (B, N, F). `rowIdx`: the
   * uploaded `[maps.rows, maps.rowsInv]` when the caller already has them.
   */
  encode(
    tape: Tape,
    x: Tensor,
    valid: Validity,
    maps: SetMaps,
    rowIdx?: readonly [Tensor, Tensor],
  ): Tensor {
    const e = this.encoder.forward(tape, this.input.forward(tape, x), valid);
    const idx = rowIdx ?? this.#upload(tape, x.gpu, maps.rows, maps.rowsInv);
    return this.projIn.forward(tape, this.#particleRows(tape, e.out, idx, maps.M));
  }

  /** The rows of the real particles (M, dim) of a transformer output (B, R + N, dim). */
  #particleRows(tape: Tape, out: Tensor, [rows, inv]: readonly [Tensor, Tensor], M: number) {
    const D = this.config.dim;
    return ops.gatherRows(tape, out.reshape([out.size / D, D]), rows, inv, [M, D]);
  }

  #upload(tape: Tape, gpu: Gpu, a: Int32Array, b: Int32Array): [Tensor, Tensor] {
    return [tape.keep(gpu.upload(a)), tape.keep(gpu.upload(b))];
  }

  /** Code of each row of z: the unit code of largest cosine similarity. */
  codes(tape: Tape, z: Tensor): Tensor {
    const { assign, dist } = kmeansAssign(z, this.codebook);
    tape.keep(dist);
    return tape.keep(assign);
  }

  /** The full pass: encode, quantise (straight-through), decode. */
  forward(tape: Tape, x: Tensor, valid: Validity): TokenizerOutput {
    const [B, N] = [x.shape[0], x.shape[1]], D = this.config.dim, R = this.config.registers;
    const maps = setMaps(valid.host, B, N, R);
    if (!maps.M) throw new RangeError("tokenizer: the batch has no particles");
    const rowIdx = this.#upload(tape, x.gpu, maps.rows, maps.rowsInv);
    const z = this.encode(tape, x, valid, maps, rowIdx);
    const codes = this.codes(tape, z);
    const q = tape.keep(gatherRows(this.codebook, codes));
    // Straight-through: value q, gradient passed to z unchanged.
    const st = ops.add(tape, z, tape.keep(axpby(q, z, { alpha: 1, beta: -1 })));
    const commit = ops.pointwiseLoss(tape, "mse", z, q);
    const [slotsInv, slots] = this.#upload(tape, x.gpu, maps.slotsInv, maps.slots);
    const placed = ops.gatherRows(tape, this.projOut.forward(tape, st), slotsInv, slots, [B, N, D]);
    const d = this.decoder.forward(tape, placed, valid);
    const rows = this.#particleRows(tape, d.out, rowIdx, maps.M);
    return { recon: this.output.forward(tape, rows), z, codes, commit };
  }

  /** EMA update of the codebook from a pass's z and codes (after the optimiser step). */
  updateCodebook(out: TokenizerOutput, seed: number): void {
    vqEmaUpdate(out.z, out.codes, this.size, this.avg, this.codebook, {
      decay: this.config.decay,
      threshold: this.config.deadThreshold,
      seed,
    });
  }

  /**
   * K-means initialisation of the codebook from projected vectors (host, (n, codeDim)):
   * spherical k-means (k-means on the normalised vectors, centroids renormalised); EMA sizes
   * set to the cluster sizes. Needs at least `codebookSize` vectors.
   */
  async initCodebook(z: Float32Array, iters = 50, seed = 0): Promise<void> {
    const C = this.config.codeDim, K = this.config.codebookSize, n = z.length / C;
    if (n < K) {
      throw new RangeError(
        `tokenizer: the first batch holds ${n} particles for ${K} codes (the k-means ` +
          `initialisation needs one per code); use a larger batch (deno task vqvae --batch, ` +
          `about ${Math.ceil((K / Math.max(n, 1)) * 1.2)}x the current one)`,
      );
    }
    const u = Float32Array.from(z);
    for (let i = 0; i < n; i++) normalise(u.subarray(i * C, (i + 1) * C));
    const gpu = this.store.gpu;
    const fit = await fitKMeans(gpu, u, C, { k: K, maxIter: iters, seed });
    const c = fit.centroids;
    for (let k = 0; k < K; k++) normalise(c.subarray(k * C, (k + 1) * C));
    const X = gpu.upload(u, [n, C]), Cb = gpu.upload(c, [K, C]);
    const { assign, dist } = kmeansAssign(X, Cb);
    const a = await assign.read() as Int32Array;
    const sizes = new Float32Array(K);
    for (const k of a) sizes[k]++;
    for (const t of [X, Cb, assign, dist, this.codebook, this.avg, this.size]) t.dispose();
    this.codebook = gpu.upload(c, [K, C]);
    this.avg = gpu.upload(c, [K, C]);
    this.size = gpu.upload(sizes, [K]);
  }

  /** Writes weights, codebook state and metadata (atomically). */
  async save(path: string, preprocessor: Preprocessor, report: unknown = {}): Promise<void> {
    const tensors = await collectWeights(this.store);
    for (
      const [name, t] of [["codebook", this.codebook], ["size", this.size], [
        "avg",
        this.avg,
      ]] as const
    ) {
      tensors.set(`tokenizer.vq.${name}`, {
        shape: [...t.shape],
        data: await t.read() as Float32Array,
      });
    }
    await writeWeights(path, tensors, {
      format: TOKENIZER_FORMAT,
      config: JSON.stringify(this.config),
      preprocessor: JSON.stringify(preprocessor.toJSON()),
      report: JSON.stringify(report),
    });
  }

  /** The preprocessing a saved tokenizer was trained with (no device needed). */
  static async readPreprocessor(path: string): Promise<Preprocessor> {
    const { metadata } = await readTokenizerFile(path);
    return preprocessorFromJson(JSON.parse(metadata.preprocessor));
  }

  /** Loads a tokenizer written by {@linkcode VQTokenizer.save}, frozen, in its own store. */
  static async load(
    gpu: Gpu,
    path: string,
  ): Promise<{ tokenizer: VQTokenizer; preprocessor: Preprocessor }> {
    const file = await readTokenizerFile(path);
    const config: TokenizerConfig = JSON.parse(file.metadata.config);
    const store = new ParameterStore(gpu);
    const tok = new VQTokenizer(store, config, new InitRng(0));
    const fix = "train the tokenizer again with `deno task vqvae`";
    loadWeights(store, file, { fix });
    store.group("tokenizer").frozen = true;
    store.finalize();
    const get = (n: string, shape: number[]) => {
      const name = `tokenizer.vq.${n}`, t = file.tensors.get(name);
      if (!t || t.shape.join() !== shape.join()) {
        throw new WeightsError(
          path,
          name,
          t
            ? `has shape [${t.shape}]; the model expects shape [${shape}]`
            : `is missing; the model expects shape [${shape}]`,
          fix,
        );
      }
      return t.data;
    };
    for (const t of [tok.codebook, tok.avg, tok.size]) t.dispose();
    const K = config.codebookSize, C = config.codeDim;
    tok.codebook = gpu.upload(get("codebook", [K, C]), [K, C]);
    tok.avg = gpu.upload(get("avg", [K, C]), [K, C]);
    tok.size = gpu.upload(get("size", [K]), [K]);
    return {
      tokenizer: tok,
      preprocessor: preprocessorFromJson(JSON.parse(file.metadata.preprocessor)),
    };
  }
}

/** Format tag of tokenizer files. */
export const TOKENIZER_FORMAT = "mpm-webgpu-vqvae/1";

function readTokenizerFile(path: string): Promise<WeightsFile> {
  return readWeights(path, {
    format: TOKENIZER_FORMAT,
    what: "VQ-VAE tokenizer",
    fix: "train one with `deno task vqvae`",
  });
}

function normalise(v: Float32Array): void {
  let s = 0;
  for (const x of v) s += x * x;
  const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
  for (let i = 0; i < v.length; i++) v[i] *= inv;
}

/**
 * VQ-VAE token prediction: the frozen tokenizer encodes each jet's dropped particles as a set;
 * head Linear(D -> codes), cross-entropy with label smoothing 0.05.
 *
 * @example
 * ```ts ignore
 * const { tokenizer } = await VQTokenizer.load(gpu, "vqvae/tokenizer.safetensors");
 * const task = new VQVAETask(store, rng, 32, tokenizer);
 * ```
 */
export class VQVAETask implements PretrainTask {
  readonly name = "vqvae";
  readonly weight: number;
  /** The head. */
  readonly head: Linear;
  /** The frozen tokenizer. */
  readonly tokenizer: VQTokenizer;

  /** Registers `tasks.vqvae.head.*`. */
  constructor(
    store: ParameterStore,
    rng: InitRng,
    dim: number,
    tokenizer: VQTokenizer,
    weight = 1,
  ) {
    this.weight = weight;
    this.tokenizer = tokenizer;
    this.head = new Linear(
      { store, rng },
      "tasks.vqvae.head",
      dim,
      tokenizer.config.codebookSize,
    );
  }

  /** Codes (M) i32 of the dropped particles, in the order of `inp.xDrop`. */
  targets(tape: Tape, inp: StepInputs): Tensor {
    const gpu = tape.gpu, F = inp.F, R = this.tokenizer.config.registers;
    const sets = droppedSets(inp.dropCount), { B, Nd } = sets;
    const x = new Float32Array(B * Nd * F);
    for (let m = 0; m < inp.M; m++) {
      x.set(inp.xDropHost.subarray(m * F, (m + 1) * F), sets.rowOfM[m] * F);
    }
    // Rows of the real particles in the tokenizer's (B, R + Nd) outputs, in the order m.
    const maps = setMaps(sets.valid, B, Nd, R);
    const z = this.tokenizer.encode(
      tape,
      tape.keep(gpu.upload(x, [B, Nd, F])),
      Validity.onTape(tape, sets.valid, B, Nd),
      maps,
    );
    return this.tokenizer.codes(tape, z);
  }

  loss(tape: Tape, pass: MPMPassOutput, inp: StepInputs): Tensor {
    const logits = this.head.forward(tape, droppedFeatures(pass, this.name));
    if (!inp.M) {
      const gpu = tape.gpu;
      return ops.crossEntropy(tape, logits, tape.keep(gpu.zeros([1], "i32")), {
        labelSmoothing: 0.05,
        valid: tape.keep(gpu.upload(new Uint32Array([0]))),
      });
    }
    return ops.crossEntropy(tape, logits, this.targets(tape, inp), { labelSmoothing: 0.05 });
  }
}

/** `--tasks vqvae --tokenizer FILE`. */
export const VQVAE_TASK: PretrainTaskDef = defineTask<{ weight: number; tokenizer: string }>({
  name: "vqvae",
  summary: "VQ-VAE code of each jet's dropped set (CE); needs --tokenizer",
  objectives: ["mae", "bert"],
  requires: {
    key: "tokenizer",
    flag: "--tokenizer TOKENIZER.safetensors",
    how: "train one with `deno task vqvae`",
  },
  defaults: () => ({ weight: 1, tokenizer: "" }),
  async build(ctx, s) {
    const { tokenizer, preprocessor } = await VQTokenizer.load(ctx.gpu, s.tokenizer);
    const features = tokenizer.config.features;
    if (features.join() !== ctx.config.features.join()) {
      throw new Error(
        `${s.tokenizer}: tokenizer trained on [${features}], the model uses [${ctx.config.features}]; re-run \`deno task vqvae\` on this data`,
      );
    }
    if (JSON.stringify(preprocessor.toJSON()) !== JSON.stringify(ctx.preprocessor.toJSON())) {
      throw new Error(
        `${s.tokenizer}: the tokenizer was trained with another preprocessing than this run's; pre-train with its preprocessing (deno task pretrain picks it up from --tokenizer unless --preprocessor is given)`,
      );
    }
    return new VQVAETask(ctx.store, ctx.rng, ctx.model.headDim, tokenizer, s.weight);
  },
});
