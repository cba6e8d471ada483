/**
 * Physics-shaped synthetic jets, the built-in default data of every command.
 *
 * JetClass-like jets (R = 0.8, pT 500-1000 GeV, 10 classes in the reference order) are built
 * from prongs: QCD is one quark or gluon prong (sometimes with a hard wide-angle splitting);
 * W/Z/H/top decay into 2, 3 or 4 prongs at the resonance mass (opening angle
 * ΔR ≈ M / (pT sqrt(z (1 - z)))); leptonic classes carry one hard lepton and lose a neutrino.
 * Each prong fragments into a multiplicity that grows with its pT (gluons ~1.7x quarks),
 * shares momentum with Dirichlet(1) fractions above a ~0.5 GeV floor, and spreads in angle with
 * softer particles wider (median ΔR ≈ 0.03 e^{-0.4 (ln z + 0.5)}, as measured on real jets).
 * Particle types follow Delphes E-flow fractions (~58 % charged, ~33 % photons, ~7 % neutral
 * hadrons, rare leptons). Charged tracks get impact parameters with resolutions
 * σ(d0) = sqrt(10² + (130/pT)²) µm, σ(z0) = sqrt(28² + (210/pT)²) µm, lifetime tails from
 * b (cτ 470 µm) and c (cτ 200 µm) hadron decays, and long tails from V0 decays; neutral
 * particles have zero impact parameters, as in JetClass.
 *
 * BTag-like jets (R = 0.4, up to 15 charged tracks; light, charm, bottom) place true secondary
 * vertices along the flight direction (b → c cascades give two), compute each track's impact
 * parameters from its vertex geometrically, smear, and lifetime-sign them; `vtxId` and
 * `trackType` follow the decay chain.
 *
 * Jet `i` is drawn from its own generator seeded by (seed, i): blocks can be generated in any
 * order or size with identical results. Calibration against real JetClass quantiles is tested
 * (`tests/data/synth_test.ts`) and reported in `bench/RESULTS.md`.
 *
 * @module
 */
import { allocBlock, emit, fragment, Particles, prongs, underlyingEvent } from "./_shower.ts";
import { Rng } from "./rng.ts";
import { type JetBlock, JETCLASS_FEATURES } from "./types.ts";

export { synthBTag } from "./synth_btag.ts";

/** Options of {@linkcode synthJetClass} and {@linkcode synthBTag}. */
export interface SynthOptions {
  /** Run seed. Default 0. */
  seed?: number;
  /** Index of the first jet (for generating a large set block by block). Default 0. */
  start?: number;
  /** Restrict to these class ids (drawn uniformly among them). Default: all classes. */
  classes?: readonly number[];
  /** Particle slots per jet. Default 128 (JetClass) or 15 (BTag). */
  nParticles?: number;
}

/**
 * Generates `n` JetClass-like jets (128 slots, 7 features, 8 particle types, 10 classes).
 * The `jets` column `sdmass` holds the constituent mass (no grooming).
 *
 * @example
 * ```ts
 * import { synthJetClass } from "@mpm/webgpu/data";
 * const block = synthJetClass(100, { seed: 1 });
 * console.assert(block.n === 100 && block.csts.length === 100 * 128 * 7);
 * ```
 */
export function synthJetClass(n: number, options: SynthOptions = {}): JetBlock {
  const seed = options.seed ?? 0, start = options.start ?? 0;
  const classes = options.classes ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const block = allocBlock(n, options.nParticles ?? 128, JETCLASS_FEATURES);
  const parts = new Particles(256);
  for (let j = 0; j < n; j++) {
    const r = new Rng(seed, start + j);
    const label = classes[Math.floor(r.u() * classes.length)];
    const pt = 500 - 125 * Math.log(1 - r.u() * (1 - Math.exp(-4)));
    let eta = r.n();
    while (Math.abs(eta) > 2) eta = r.n();
    const phi = Math.PI * (2 * r.u() - 1);
    parts.n = 0;
    for (const p of prongs(r, label, pt)) fragment(r, p, pt, parts);
    underlyingEvent(r, parts);
    block.labels![j] = label;
    emit(block, j, parts, eta, phi, 0.8);
  }
  return block;
}

// ---------------------------------------------------------------- BTag
