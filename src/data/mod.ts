/**
 * Jet data: HDF5 and ROOT readers, an HDF5 writer, a calibrated synthetic generator,
 * preprocessing, masking, and a streaming loader.
 *
 * @example Generate, write, stream
 * ```ts ignore
 * import { JetLoader, synthJetClass, writeJetFile } from "@mpm/webgpu/data";
 * writeJetFile("jets.h5", synthJetClass(10_000, { seed: 1 }));
 * const loader = new JetLoader({ files: ["jets.h5"], batchSize: 256, split: "train" });
 * const batch = loader.next()!; // features, ids, valid, labels
 * ```
 *
 * @module
 */
export * from "./calibration.ts";
export * from "./errors.ts";
export * from "./hdf5.ts";
export * from "./lifetime.ts";
export * from "./loader.ts";
export * from "./masking.ts";
export * from "./preprocess.ts";
export * from "./rng.ts";
export * from "./root.ts";
export * from "./synth.ts";
export * from "./types.ts";
export * from "../io/mod.ts";
export * from "./hdf5_arrays.ts";
export * from "./labels.ts";
export * from "./sample.ts";
export * from "./interleave.ts";
export * from "./jet_checks.ts";
export * from "./reference_preprocessing.ts";
export * from "./datasets/mod.ts";
export * from "./root_tree.ts";
