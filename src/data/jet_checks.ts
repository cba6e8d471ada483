/**
 * Validation of each jet as it is read: finite features, at least one particle, pT > 0 and not
 * all-zero features on a particle marked real, particle types 0-7, labels inside the classes,
 * and no more particles than the model allows (unless truncating). One policy everywhere: throw a
 * {@linkcode DataError} naming the file, dataset, row and fix, or skip and count
 * (`--skip-bad-jets`).
 *
 * @module
 */
import { DataError } from "./errors.ts";
import type { JetBlock } from "./types.ts";

/** What the checks enforce. */
export interface JetChecks {
  /** Throw (default) or skip and count. */
  onBadJet?: "error" | "skip";
  /** Labels must lie in [0, classes). */
  classes?: number;
  /** The model's particle limit. */
  maxParticles?: number;
  /** Longer jets are truncated rather than refused. */
  truncate?: boolean;
}

function bad(
  o: JetChecks,
  reason: string,
  loc: { file: string; field: string; row: number },
  problem: string,
  fix: string,
): string {
  if (o.onBadJet === "skip") return reason;
  throw new DataError(loc, problem, fix);
}

/**
 * Checks jet `j` of a block (row `row` of `file`): returns null for a good jet, a reason for a
 * bad one when bad jets are skipped, and throws a {@linkcode DataError} naming the file, dataset,
 * row and fix otherwise.
 */
export function checkJet(
  b: JetBlock,
  j: number,
  file: string,
  row: number,
  o: JetChecks,
): string | null {
  const P = b.nParticles, F = b.features.length, ptCol = b.features.indexOf("pt");
  const skip = "or pass --skip-bad-jets to skip and count such jets";
  let n = 0;
  for (let k = 0; k < P; k++) {
    const i = j * P + k;
    let nonzero = false;
    for (let c = 0; c < F; c++) {
      const v = b.csts[i * F + c];
      if (!Number.isFinite(v)) {
        return bad(
          o,
          "NaN/Inf feature",
          { file, field: "csts", row },
          `feature "${b.features[c]}" of particle ${k} is ${v}`,
          `clean the file, ${skip}`,
        );
      }
      if (v !== 0) nonzero = true;
    }
    if (!b.valid[i]) continue;
    n++;
    if (!nonzero) {
      return bad(
        o,
        "all-zero particle",
        { file, field: "mask", row },
        `particle ${k} is marked real but all its features are 0`,
        `make the mask false on padded slots, ${skip}`,
      );
    }
    if (ptCol >= 0 && !(b.csts[i * F + ptCol] > 0)) {
      return bad(
        o,
        "non-positive pT",
        { file, field: "csts", row },
        `particle ${k} has pt ${b.csts[i * F + ptCol]} (real particles have pt > 0)`,
        `fix the file, ${skip}`,
      );
    }
    if (b.ids && !(b.ids[i] >= 0 && b.ids[i] <= 7)) {
      return bad(
        o,
        "particle type out of range",
        { file, field: "csts_id", row },
        `particle ${k} has type ${b.ids[i]} (types are 0-7)`,
        `map the types to the 8 JetClass types, ${skip}`,
      );
    }
  }
  if (n === 0) {
    return bad(
      o,
      "empty jet",
      { file, field: "mask", row },
      "the jet has no particles",
      `remove empty jets, ${skip}`,
    );
  }
  const C = o.classes, y = b.labels?.[j];
  if (y !== undefined && (y < 0 || (C !== undefined && y >= C))) {
    return bad(
      o,
      "label out of range",
      { file, field: "labels", row },
      `label ${y} is outside 0..${(C ?? 1) - 1}`,
      `check the labels or --classes, ${skip}`,
    );
  }
  const max = o.maxParticles;
  if (max !== undefined && n > max && !o.truncate) {
    return bad(
      o,
      "too many particles",
      { file, field: "mask", row },
      `the jet has ${n} particles, the model allows ${max}`,
      `raise the model's particle limit, pass --truncate to keep the ${max} hardest, ${skip}`,
    );
  }
  return null;
}
