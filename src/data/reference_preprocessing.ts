/**
 * The reference implementation's preprocessing of JetClass constituents: the quantile-normal
 * transform fitted there on real JetClass jets (500 levels per feature, shipped with the package),
 * so a backbone pre-trained here sees real data exactly as the reference's does
 * (`--preprocessor jetclass-reference`).
 *
 * @module
 */
import { JETCLASS_QUANTILE_FEATURES, JETCLASS_QUANTILES } from "./_jetclass_quantiles.gen.ts";
import { DataError } from "./errors.ts";
import { loadPreprocessor, type Preprocessor, QuantileTransform } from "./preprocess.ts";

/** The name `--preprocessor` accepts for {@linkcode jetclassReference}. */
export const JETCLASS_REFERENCE = "jetclass-reference";

/**
 * The reference's fitted JetClass quantile transform for `features` (any subset of pt, deta,
 * dphi, d0, d0err, dz, dzerr), with its neutral-particle impact-parameter noise.
 *
 * @param features the data's features, in order
 * @returns the transform
 * @throws {DataError} for a feature the reference did not fit
 * @example
 * ```ts
 * import { jetclassReference } from "@mpm/webgpu/data";
 * const pre = jetclassReference(["pt", "deta", "dphi"]);
 * console.assert(pre.quantiles.length === 3 && pre.quantiles[0].length === 500);
 * ```
 */
export function jetclassReference(features: readonly string[]): QuantileTransform {
  const cols = features.map((f) => {
    const c = JETCLASS_QUANTILE_FEATURES.indexOf(f);
    if (c < 0) {
      throw new DataError(
        { file: JETCLASS_REFERENCE },
        `the reference's JetClass quantiles have no feature "${f}" (they cover [${JETCLASS_QUANTILE_FEATURES}])`,
        "fit a preprocessor on your data instead (the default, or deno task data fit)",
      );
    }
    return JETCLASS_QUANTILES[c];
  });
  return new QuantileTransform(features, cols, true);
}

/**
 * A preprocessor by name or file: `jetclass-reference`, or a JSON file written by
 * `savePreprocessor` / `deno task data fit`.
 *
 * @param spec the name or the path
 * @param features the data's features (for the reference transform)
 * @returns the preprocessor
 * @example
 * ```ts ignore
 * import { resolvePreprocessor } from "@mpm/webgpu/data";
 * const pre = await resolvePreprocessor("jetclass-reference", ["pt", "deta", "dphi"]);
 * ```
 */
export async function resolvePreprocessor(
  spec: string,
  features: readonly string[],
): Promise<Preprocessor> {
  return spec === JETCLASS_REFERENCE ? jetclassReference(features) : await loadPreprocessor(spec);
}
