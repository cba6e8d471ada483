/**
 * K-Means kernels: nearest-centroid assignment and centroid update.
 *
 * @module
 */
import { ShapeError } from "../gpu/errors.ts";
import { Uniforms } from "../gpu/kernel_spec.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { expectSize, grid1d, lastDim } from "./_util.ts";
import { KMEANS } from "./specs.ts";

/**
 * Nearest centroid (i32) and squared distance of each point: x (n, dim), centroids (k, dim),
 * dim at most 32.
 *
 * @example
 * ```ts ignore
 * const { assign } = kmeansAssign(points, centroids); // K-Means token targets
 * ```
 */
export function kmeansAssign(x: Tensor, centroids: Tensor): { assign: Tensor; dist: Tensor } {
  const dim = lastDim(x), n = x.size / dim, k = centroids.size / dim;
  if (dim > 32) throw new ShapeError(`kmeansAssign: dim ${dim} > 32`);
  expectSize("kmeansAssign", "centroids", centroids, k * dim);
  const gpu = x.gpu;
  const assign = gpu.empty([n], "i32"), dist = gpu.empty([n]);
  gpu.dispatch(KMEANS, "kmeans_assign", {
    uniforms: new Uniforms().u32(n).u32(k).u32(dim),
    bindings: [x, centroids, null, null, assign, dist, null],
    workgroups: grid1d(n),
  });
  return { assign, dist };
}

/**
 * New centroids: the mean of each cluster's points, given the points' indices grouped by
 * cluster (`order`, u32) and each group's start (`offsets`, u32, k + 1 entries).
 *
 * @example
 * ```ts ignore
 * const next = kmeansUpdate(points, centroids, order, offsets);
 * ```
 */
export function kmeansUpdate(x: Tensor, centroids: Tensor, order: Tensor, offsets: Tensor): Tensor {
  const dim = lastDim(x), n = x.size / dim, k = centroids.size / dim;
  expectSize("kmeansUpdate", "order", order, n);
  expectSize("kmeansUpdate", "offsets", offsets, k + 1);
  const gpu = x.gpu;
  const out = gpu.empty([k, dim]);
  gpu.dispatch(KMEANS, "kmeans_update", {
    uniforms: new Uniforms().u32(n).u32(k).u32(dim),
    bindings: [x, centroids, order, offsets, null, null, out],
    workgroups: grid1d(k * dim),
  });
  return out;
}
