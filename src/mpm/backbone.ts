/**
 * Backbones: the pre-trained particle embedding + encoder (+ registers), saved as
 * `backbone.safetensors` with the encoder config, features and preprocessing in its metadata,
 * loadable for downstream use without the pre-training code.
 *
 * @module
 */
import { ParameterStore } from "../autograd/parameters.ts";
import * as ops from "../autograd/ops.ts";
import { Tape } from "../autograd/tape.ts";
import type { JetBatch } from "../data/loader.ts";
import { type Preprocessor, preprocessorFromJson } from "../data/preprocess.ts";
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { InitRng } from "../nn/init.ts";
import { type EncoderConfig, TransformerEncoder } from "../nn/layers.ts";
import { collectWeights, loadWeights, readWeights, writeWeights } from "../autograd/weights.ts";
import { ParticleEmbedding } from "./embedding.ts";
import { Validity } from "../nn/validity.ts";
import { trimBatch } from "./prepare.ts";

/** Format tag of backbone files. */
export const BACKBONE_FORMAT = "mpm-webgpu-backbone/1";

/** Metadata stored in a backbone file. */
export interface BackboneInfo {
  /** Encoder shape. */
  encoder: EncoderConfig;
  /** Input features, in order. */
  features: string[];
  /** Whether particle types are embedded. */
  useIds: boolean;
  /** Particle slots. */
  maxParticles: number;
  /** Preprocessing the backbone was trained with (absent while pre-training builds it). */
  preprocessor?: Preprocessor;
}

/**
 * A loaded (or randomly initialised) backbone, ready to embed jets.
 *
 * @example
 * ```ts ignore
 * const bb = await Backbone.load(gpu, "run/backbone.safetensors");
 * const { pooled } = await bb.embedBatch(batch); // (B, dim) per-jet features
 * ```
 */
export class Backbone {
  /** What it expects and produces. */
  readonly info: BackboneInfo;
  /** Its parameters (group `backbone`). */
  readonly store: ParameterStore;
  /** Particle embedding. */
  readonly embed: ParticleEmbedding;
  /** Encoder. */
  readonly encoder: TransformerEncoder;

  private constructor(store: ParameterStore, info: BackboneInfo, rng: InitRng) {
    this.info = info;
    this.store = store;
    const ctx = { store, rng, group: "backbone" };
    this.embed = new ParticleEmbedding(ctx, info.features.length, info.encoder.dim, info.useIds);
    this.encoder = new TransformerEncoder(ctx, "encoder", info.encoder);
  }

  /**
   * Registers a backbone's parameters (`embed.*`, `encoder.*`, group `backbone`) in an existing
   * store, drawing initial values from `rng`; the caller finalises the store.
   */
  static build(store: ParameterStore, info: BackboneInfo, rng: InitRng): Backbone {
    return new Backbone(store, info, rng);
  }

  /**
   * Loads `backbone.safetensors` (weights and metadata). With a shared `store`, the parameters
   * are registered with the loaded values and the caller finalises the store (after adding a
   * head).
   */
  static async load(gpu: Gpu, path: string, store?: ParameterStore): Promise<Backbone> {
    const file = await readWeights(path, {
      format: BACKBONE_FORMAT,
      what: "backbone",
      fix: "pass run/backbone.safetensors from `deno task pretrain`",
    });
    const m = file.metadata;
    const info: BackboneInfo = {
      encoder: JSON.parse(m.encoder),
      features: JSON.parse(m.features),
      useIds: m.useIds === "true",
      maxParticles: Number(m.maxParticles),
      preprocessor: preprocessorFromJson(JSON.parse(m.preprocessor)),
    };
    const bb = new Backbone(store ?? new ParameterStore(gpu), info, new InitRng(0));
    // Loaded values replace the initial ones; a shared store is finalised by its owner. Every
    // tensor of the file must be taken: metadata naming fewer layers than the file holds is an
    // inconsistent file, not a smaller backbone.
    loadWeights(bb.store, file, {
      group: "backbone",
      unused: "error",
      fix: "the backbone file does not match its own metadata (encoder, features, useIds); " +
        "export it again with `deno task pretrain`",
    });
    if (!store) bb.store.finalize();
    return bb;
  }

  /**
   * Writes the backbone (`embed.*`, `encoder.*` of group `backbone`) with its config, features
   * and preprocessing in the metadata, atomically: the file {@linkcode Backbone.load} reads.
   *
   * @param path target file (`backbone.safetensors`)
   * @param preprocessor the preprocessing the backbone was trained with (default: its own)
   */
  async save(path: string, preprocessor?: Preprocessor): Promise<void> {
    const pre = preprocessor ?? this.info.preprocessor;
    if (!pre) throw new Error(`${path}: a backbone is saved with its preprocessing; none given`);
    await writeWeights(path, await collectWeights(this.store, { group: "backbone" }), {
      format: BACKBONE_FORMAT,
      encoder: JSON.stringify(this.info.encoder),
      features: JSON.stringify(this.info.features),
      useIds: String(this.info.useIds),
      maxParticles: String(this.info.maxParticles),
      preprocessor: JSON.stringify(pre.toJSON()),
    });
  }

  /** A randomly initialised backbone with the same shape (the baseline). */
  static random(gpu: Gpu, info: BackboneInfo, seed: number, store?: ParameterStore): Backbone {
    const bb = new Backbone(store ?? new ParameterStore(gpu), info, new InitRng(seed));
    if (!store) bb.store.finalize();
    return bb;
  }

  /** Encoder outputs on full jets: (B, R + N, dim) tokens and their validity (B, R + N). */
  forward(tape: Tape, x: Tensor, ids: Tensor, valid: Validity): { out: Tensor; valid: Validity } {
    return this.encoder.forward(tape, this.embed.forward(tape, x, ids), valid);
  }

  /**
   * Embeds a batch (already preprocessed with `info.preprocessor`): per-particle features
   * (B, N, dim) without registers, zero at padded slots, and the per-jet mean over registers
   * and real particles (B, dim). Everything is recorded and submitted before the returned
   * promise first waits, so calling it for the next batch before awaiting this one overlaps the
   * two (host work and readback of one batch with the device's work on the other).
   */
  async embedBatch(
    batch: JetBatch,
  ): Promise<{ particles: Float32Array; pooled: Float32Array; dim: number }> {
    const gpu = this.store.gpu,
      B = batch.size,
      N = batch.nParticles,
      R = this.info.encoder.registers,
      D = this.info.encoder.dim;
    // The encoder runs on the batch cut to its longest jet (padded slots cost attention time
    // and change nothing); the outputs are laid out on the batch's N slots again.
    const t = trimBatch(batch), n = t.nParticles;
    const tape = new Tape(gpu);
    const x = tape.keep(gpu.upload(t.x, [B, n, t.features.length]));
    const ids = tape.keep(gpu.upload(t.ids, [B, n]));
    const valid = Validity.onTape(tape, t.valid, B, n);
    const { out, valid: v } = this.forward(tape, x, ids, valid);
    const pooled = ops.maskedMean(tape, out, v.tensor);
    // Both readbacks are recorded before the first await: a caller may record its next batch
    // while this one runs and is copied back (see deno task embed).
    const reads = [out.read(), pooled.read()];
    tape.dispose();
    gpu.submit();
    const [tokens, pool] = await Promise.all(reads) as Float32Array[];
    // Per-particle outputs without the registers; zero at padded slots (their tokens carry
    // whatever attention computed for a query nobody reads).
    const particles = new Float32Array(B * N * D);
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < n; p++) {
        if (!t.valid[b * n + p]) continue;
        const src = (b * (R + n) + R + p) * D;
        particles.set(tokens.subarray(src, src + D), (b * N + p) * D);
      }
    }
    return { particles, pooled: pool, dim: D };
  }
}
