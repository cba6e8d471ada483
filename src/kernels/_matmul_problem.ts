// Private to the matmul kernels: the shape of a matmul problem after transposes and broadcast.
import { ShapeError } from "../gpu/errors.ts";
import type { Tensor } from "../gpu/tensor.ts";

/** Shapes of a matmul problem after resolving transposes and batch broadcast. */
export interface Problem {
  m: number;
  n: number;
  k: number;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  outShape: number[];
}

export function resolve(
  a: Tensor,
  b: Tensor,
  o: { transA?: boolean; transB?: boolean },
): Problem {
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new ShapeError(
      `matmul: operands must be at least 2-D, got [${a.shape}] and [${b.shape}]`,
    );
  }
  const ar = a.shape.length, br = b.shape.length;
  const [a0, a1] = [a.shape[ar - 2], a.shape[ar - 1]];
  const [b0, b1] = [b.shape[br - 2], b.shape[br - 1]];
  const m = o.transA ? a1 : a0, ka = o.transA ? a0 : a1;
  const kb = o.transB ? b1 : b0, n = o.transB ? b0 : b1;
  if (ka !== kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: A [${a.shape}]${o.transA ? "ᵀ" : ""} has K=${ka}, ` +
        `B [${b.shape}]${o.transB ? "ᵀ" : ""} has K=${kb}`,
    );
  }
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const batch = batchA.reduce((x, y) => x * y, 1);
  const nbB = batchB.reduce((x, y) => x * y, 1);
  if (nbB !== 1 && nbB !== batch) {
    throw new ShapeError(`matmul: batch dims [${batchA}] and [${batchB}] do not broadcast`);
  }
  return {
    m,
    n,
    k: ka,
    batch,
    strideA: m * ka,
    strideB: nbB === 1 ? 0 : kb * n,
    strideC: m * n,
    outShape: [...batchA, m, n],
  };
}
