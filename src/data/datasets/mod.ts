/**
 * Readers for the public jet datasets physicists already have (JetClass ROOT, Top Tagging
 * Landscape, quark-gluon, JetNet, BTag ROOT), each converting to the library's layout with the
 * kinematics computed as the reference does.
 *
 * @module
 */
export * from "./source.ts";
export * from "./kinematics.ts";
export * from "./toptag.ts";
export * from "./qg.ts";
export * from "./jetnet.ts";
export * from "./btag_root.ts";
export * from "./formats.ts";
