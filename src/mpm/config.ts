/**
 * Typed configuration of MPM pre-training, with the `small` (CPU-friendly default) and `paper`
 * presets.
 *
 * @module
 */
import type { EncoderConfig } from "../nn/layers.ts";

/** Decoder shape (no registers of its own: it receives the encoder's). */
export interface DecoderConfig {
  /** Width. */
  dim: number;
  /** Blocks. */
  layers: number;
  /** Heads. */
  heads: number;
  /** SwiGLU multiplier. Default 2. */
  ffMult?: number;
}

/** Settings of one pre-training task: its loss weight and the task's own options. */
export interface TaskSettings {
  /** Loss weight. */
  weight: number;
  /** Task-specific options (see each task's definition). */
  [option: string]: unknown;
}

/** Settings of the linear probe (monitoring, not a loss of the objective). */
export interface ProbeSettings {
  /** Steps between probe updates. */
  every: number;
  /** Output classes (at least the number of label values in the training files). */
  classes: number;
}

/**
 * Pre-training tasks and their settings, keyed by task name (the registry in
 * `src/mpm/registry.ts` lists the tasks; a task added there needs no change here). The known
 * tasks are typed below.
 */
export interface TaskConfig {
  /** Any registered task. */
  [task: string]: TaskSettings | ProbeSettings | undefined;
  /** Particle-type classification (CE, label smoothing 0.1); reference weight 0.3. */
  id?: { weight: number };
  /** Direct regression of the continuous features (L1). */
  reg?: { weight: number };
  /** K-Means token prediction (CE, label smoothing 0.1) with a codebook from `deno task kmeans`. */
  kmeans?: { weight: number; codebook: string };
  /** Conditional flow matching; the sampler runs `sampleSteps` midpoint steps at validation. */
  cfm?: { weight: number; sampleSteps?: number };
  /** Conditional normalising flow (RQ-spline couplings, NLL); samples are plotted at validation. */
  cnf?: { weight: number; finalNorm?: boolean };
  /** VQ-VAE token prediction (CE, label smoothing 0.05) with a tokenizer from `deno task vqvae`. */
  vqvae?: { weight: number; tokenizer: string };
  /**
   * Set-to-set flow matching (objective `ssfm` only): each jet drops a fraction drawn uniformly
   * from [minDrop, maxDrop] (the paper: 0-0.8) and the decoder generates the dropped set; the
   * sampler runs `sampleSteps` midpoint steps (default 50).
   */
  ssfm?: {
    weight: number;
    minDrop: number;
    maxDrop: number;
    sampleSteps?: number;
    timeEmbedding?: "reference" | "sinusoidal";
  };
  /** Linear probe on the detached encoder (jet labels), every `every` steps. */
  probe?: ProbeSettings;
}

/** Optimisation settings. */
export interface TrainConfig {
  /** Optimiser steps. */
  steps: number;
  /** Jets per batch. */
  batch: number;
  /** Peak learning rate. */
  lr: number;
  /** AdamW weight decay. */
  weightDecay: number;
  /** Linear warm-up steps. */
  warmup: number;
  /** Exponential decay half-life (steps). */
  halfLife: number;
  /** Learning-rate floor (factor). */
  floor: number;
  /** Global gradient-norm clip. */
  clip: number;
  /** Run seed (data order, masking, initialisation, noise). */
  seed: number;
  /** Steps between validation passes. */
  valEvery: number;
  /** Validation batches per pass. */
  valBatches: number;
  /** Steps between progress lines (and the only GPU readbacks). */
  logEvery: number;
  /** Steps between checkpoints. */
  checkpointEvery: number;
}

/** The inputs a run was started with (recorded in `config.json`, checked on resume). */
export interface RunData {
  /** Training files with size and content fingerprint. */
  train: { path: string; bytes: number; sha256: string }[];
  /** Validation files, when separate. */
  val?: { path: string; bytes: number; sha256: string }[];
  /** Fingerprint of the run's `preprocessor.json`, its kind, and where it came from. */
  preprocessor?: { kind: string; sha256: string; source?: string };
}

/** Full MPM configuration (written to `run/config.json`). */
export interface MPMConfig {
  /** Preset it was derived from. */
  preset: "small" | "paper" | "custom";
  /** Continuous input features (must exist in the data). */
  features: string[];
  /** Embed particle types (needs `csts_id`); also enables the ID task. */
  useIds: boolean;
  /** Particle slots per jet. */
  maxParticles: number;
  /**
   * `mae` (MPMv2: drop, encode, decode with ordered mask tokens), `bert` (MPMv1-style), or
   * `ssfm` (set-to-set flow matching: the encoder output conditions a generative decoder of the
   * dropped set; `decoder` sizes that decoder).
   */
  objective: "mae" | "bert" | "ssfm";
  /**
   * `bert` only: an MLP (Linear(encoder -> encoder), SiLU, Linear(encoder -> decoder width))
   * between the encoder and the task heads. Off by default: as in the reference, the heads read
   * the encoder outputs at the dropped positions directly (at the encoder's width).
   */
  bertHead?: boolean;
  /** Fraction of each jet's particles dropped. */
  maskFraction: number;
  /** Encoder (backbone). */
  encoder: EncoderConfig;
  /** Decoder. */
  decoder: DecoderConfig;
  /** Tasks. */
  tasks: TaskConfig;
  /** Optimisation. */
  train: TrainConfig;
  /** The run's inputs (set by `pretrain()` when the run starts). */
  data?: RunData;
}

/**
 * A preset configuration for 7-feature JetClass-like data.
 *
 * @example
 * ```ts
 * import { preset } from "@mpm/webgpu/mpm";
 * console.assert(preset("paper").encoder.dim === 512 && preset("small").encoder.registers === 8);
 * ```
 */
export function preset(name: "small" | "paper"): MPMConfig {
  const base = {
    features: ["pt", "deta", "dphi", "d0", "d0err", "dz", "dzerr"],
    useIds: true,
    maxParticles: 128,
    objective: "mae" as const,
    maskFraction: 0.4,
    tasks: { id: { weight: 0.3 }, reg: { weight: 1 }, probe: { every: 10, classes: 10 } },
  };
  if (name === "paper") {
    return {
      preset: "paper",
      ...base,
      encoder: {
        dim: 512,
        layers: 8,
        heads: 8,
        registers: 8,
        ffMult: 2,
        finalNorm: false,
        layerScaleInit: 1e-3,
      },
      decoder: { dim: 128, layers: 4, heads: 4, ffMult: 2 },
      train: {
        steps: 1_000_000,
        batch: 1000,
        lr: 1e-3,
        weightDecay: 1e-5,
        warmup: 50_000,
        halfLife: 100_000,
        floor: 1e-3,
        clip: 1,
        seed: 42,
        valEvery: 50_000,
        valBatches: 100,
        logEvery: 100,
        checkpointEvery: 10_000,
      },
    };
  }
  return {
    preset: "small",
    ...base,
    encoder: {
      dim: 64,
      layers: 3,
      heads: 4,
      registers: 8,
      ffMult: 2,
      finalNorm: false,
      layerScaleInit: 1e-3,
    },
    decoder: { dim: 32, layers: 2, heads: 2, ffMult: 2 },
    // Sized for a 2-core CPU with the software driver: about five minutes.
    train: {
      steps: 300,
      batch: 64,
      lr: 1e-3,
      weightDecay: 1e-5,
      warmup: 30,
      halfLife: 300,
      floor: 1e-3,
      clip: 1,
      seed: 42,
      valEvery: 100,
      valBatches: 8,
      logEvery: 10,
      checkpointEvery: 100,
    },
  };
}

/**
 * Switches a configuration to set-to-set flow matching: objective `ssfm`, the ssfm task (drop
 * fraction uniform in [minDrop, maxDrop], default 0-0.8 as the paper) plus the probe if it was
 * on, and a generative decoder (small: 64 wide x 3 blocks; paper: 256 x 6, 4 heads).
 *
 * @example
 * ```ts
 * import { preset, withSSFM } from "@mpm/webgpu/mpm";
 * const c = withSSFM(preset("small"));
 * console.assert(c.objective === "ssfm" && c.tasks.ssfm!.maxDrop === 0.8 && !c.tasks.reg);
 * ```
 */
export function withSSFM(
  config: MPMConfig,
  o: { minDrop?: number; maxDrop?: number; sampleSteps?: number } = {},
): MPMConfig {
  const out: MPMConfig = structuredClone(config);
  out.objective = "ssfm";
  out.decoder = config.preset === "paper"
    ? { dim: 256, layers: 6, heads: 4, ffMult: 2 }
    : { dim: 64, layers: 3, heads: 4, ffMult: 2 };
  out.tasks = {
    ssfm: {
      weight: 1,
      minDrop: o.minDrop ?? 0,
      maxDrop: o.maxDrop ?? 0.8,
      sampleSteps: o.sampleSteps ?? 50,
    },
    probe: config.tasks.probe,
  };
  if (!out.tasks.probe) delete out.tasks.probe;
  return out;
}

/**
 * Adapts a configuration to the data's features: a kinematics-only file drops the
 * impact-parameter features and the type embedding (and the ID task). A config that needs a
 * feature the data lacks, when `strict`, fails with a clear message.
 *
 * @example
 * ```ts
 * import { adaptToData, preset } from "@mpm/webgpu/mpm";
 * const c = adaptToData(preset("small"), ["pt", "deta", "dphi"], false);
 * console.assert(c.features.length === 3 && !c.useIds && !c.tasks.id);
 * ```
 */
export function adaptToData(
  config: MPMConfig,
  dataFeatures: readonly string[],
  hasIds: boolean,
  strict = false,
): MPMConfig {
  const missing = config.features.filter((f) => !dataFeatures.includes(f));
  if (missing.length && strict) {
    throw new Error(
      `the config needs features [${missing}] that the data lacks (it has [${dataFeatures}]); use a config with features [${dataFeatures}]`,
    );
  }
  const out: MPMConfig = structuredClone(config);
  out.features = config.features.filter((f) => dataFeatures.includes(f));
  if (!hasIds) {
    if (strict && config.useIds) {
      throw new Error(
        "the config embeds particle types but the data has no csts_id; set useIds: false",
      );
    }
    out.useIds = false;
    delete out.tasks.id;
  }
  return out;
}
