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
import { decodeSafetensors } from "../data/safetensors.ts";
import { ParticleEmbedding } from "./embedding.ts";

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
    let parsed;
    try {
      parsed = decodeSafetensors(await Deno.readFile(path));
    } catch (e) {
      throw new Error(
        `${path}: not a readable backbone (${
          (e as Error).message
        }); pass run/backbone.safetensors from \`deno task pretrain\``,
      );
    }
    const m = parsed.metadata;
    if (m.format !== "mpm-webgpu-backbone/1") {
      throw new Error(`${path}: not an @mpm/webgpu backbone (format "${m.format}")`);
    }
    const info: BackboneInfo = {
      encoder: JSON.parse(m.encoder),
      features: JSON.parse(m.features),
      useIds: m.useIds === "true",
      maxParticles: Number(m.maxParticles),
      preprocessor: preprocessorFromJson(JSON.parse(m.preprocessor)),
    };
    const bb = new Backbone(store ?? new ParameterStore(gpu), info, new InitRng(0));
    // Loaded values replace the initial ones; a shared store is finalised by its owner.
    for (const p of bb.store.parameters.filter((q) => q.group.name === "backbone")) {
      const t = parsed.tensors.get(p.name);
      if (!t) throw new Error(`${path}: missing tensor "${p.name}"`);
      if (t.data.length !== p.size) {
        throw new Error(`${path}: "${p.name}" has ${t.data.length} values, expected ${p.size}`);
      }
      p.initial = t.data;
    }
    if (!store) bb.store.finalize();
    return bb;
  }

  /** A randomly initialised backbone with the same shape (the baseline). */
  static random(gpu: Gpu, info: BackboneInfo, seed: number, store?: ParameterStore): Backbone {
    const bb = new Backbone(store ?? new ParameterStore(gpu), info, new InitRng(seed));
    if (!store) bb.store.finalize();
    return bb;
  }

  /** Encoder outputs on full jets: (B, R + N, dim) tokens and their validity (B, R + N). */
  forward(
    tape: Tape,
    x: Tensor,
    ids: Tensor,
    valid: Tensor,
    validHost: Uint32Array,
  ): { out: Tensor; valid: Tensor } {
    return this.encoder.forward(tape, this.embed.forward(tape, x, ids), valid, validHost);
  }

  /**
   * Embeds a batch (already preprocessed with `info.preprocessor`): per-particle features
   * (B, N, dim) without registers, and the per-jet mean over registers and particles (B, dim).
   */
  async embedBatch(
    batch: JetBatch,
  ): Promise<{ particles: Float32Array; pooled: Float32Array; dim: number }> {
    const gpu = this.store.gpu,
      B = batch.size,
      N = batch.nParticles,
      R = this.info.encoder.registers,
      D = this.info.encoder.dim;
    const tape = new Tape(gpu);
    const x = tape.keep(gpu.upload(batch.x, [B, N, batch.features.length]));
    const ids = tape.keep(gpu.upload(batch.ids, [B, N]));
    const valid = tape.keep(gpu.upload(batch.valid, [B, N]));
    const { out, valid: v } = this.forward(tape, x, ids, valid, batch.valid);
    const pooled = ops.maskedMean(tape, out, v);
    const [tokens, pool] = [await out.read() as Float32Array, await pooled.read() as Float32Array];
    tape.dispose();
    gpu.submit();
    const particles = new Float32Array(B * N * D);
    for (let b = 0; b < B; b++) {
      particles.set(tokens.subarray((b * (R + N) + R) * D, (b + 1) * (R + N) * D), b * N * D);
    }
    return { particles, pooled: pool, dim: D };
  }
}
