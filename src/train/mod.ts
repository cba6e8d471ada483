/**
 * Training: the MPM pre-training loop and checkpoints.
 *
 * @example
 * ```ts ignore
 * import { pretrain } from "@mpm/webgpu/train";
 * await pretrain({ gpu, config, trainFiles: ["jets.h5"], out: "run", preprocessor });
 * ```
 *
 * @module
 */
export * from "./checkpoint.ts";
export * from "./pretrain.ts";
export * from "./probe_study.ts";
export * from "./finetune.ts";
export * from "./sweep.ts";
export * from "./vqvae.ts";
export * from "./generate.ts";
export * from "./generation_report.ts";
export * from "./runlog.ts";
export * from "./evaluate.ts";
export * from "./downstream/task.ts";
export * from "./downstream/registry.ts";
export * from "./downstream/classify.ts";
export * from "./downstream/cwola.ts";
export * from "./downstream/vertex.ts";
export * from "./downstream/trackid.ts";
export * from "./downstream/protocol.ts";
export * from "./head_training.ts";
export * from "./pretrain_validation.ts";
export * from "./study.ts";
export * from "./study_tables.ts";
export * from "./data_parallel.ts";
