/**
 * Spline ops: the rational-quadratic spline transform of the CNF couplings.
 *
 * @module
 */
import { ShapeError } from "../../gpu/errors.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import {
  splineBackward,
  splineForward,
  splineKnots,
  splineKnotsBackward,
  type SplineShape,
} from "../../kernels/spline.ts";
import type { Tape } from "../tape.ts";

/**
 * Element-wise monotone rational-quadratic spline (identity tails) with per-element
 * unconstrained parameters `raw` (x.size, 3K - 1): returns y and log|dy/dx|, both shaped as x.
 * Gradients flow to x and raw (see `splineKnots` for the parameterisation).
 *
 * @example
 * ```ts ignore
 * const { y, logdet } = rqSpline(tape, x, raw, { bins: 8, bound: 4 });
 * ```
 */
export function rqSpline(
  tape: Tape,
  x: Tensor,
  raw: Tensor,
  shape: SplineShape,
): { y: Tensor; logdet: Tensor } {
  const P = 3 * shape.bins - 1;
  if (raw.size !== x.size * P) {
    throw new ShapeError(
      `rqSpline: raw [${raw.shape}] must hold ${P} values per element of x [${x.shape}]`,
    );
  }
  const knots = tape.keep(splineKnots(raw, shape));
  const { y, logdet } = splineForward(x, knots, shape.bins);
  tape.record([x, raw], [y, logdet], ([gy, gld]) => {
    const zy = gy ?? tape.keep(x.gpu.zeros(x.shape)), zl = gld ?? tape.keep(x.gpu.zeros(x.shape));
    const { dx, dknots } = splineBackward(x, knots, shape.bins, zy, zl);
    if (tape.requiresGrad(x)) tape.addGrad(x, dx);
    else dx.dispose();
    if (tape.requiresGrad(raw)) tape.addGrad(raw, splineKnotsBackward(raw, dknots, shape));
    dknots.dispose();
  });
  return { y, logdet };
}
