/**
 * The HDF5 library (h5wasm), loaded once for `src/data/`: its diagnostic printing is replaced by
 * thrown errors (so a bad file gives our one-line message, not a 40-line C error stack), and
 * {@linkcode hdf5Cause} shortens such an error to its innermost cause.
 *
 * @module
 */
import h5wasm from "h5wasm";

const module = await h5wasm.ready as unknown as { activate_throwing_error_handler?: () => number };
module.activate_throwing_error_handler?.();

export { h5wasm };

/** A dataset handle. */
export type H5Dataset = InstanceType<typeof h5wasm.Dataset>;
/** A file handle. */
export type H5File = InstanceType<typeof h5wasm.File>;

/**
 * The innermost cause of an HDF5 error ("unable to open file", "can't read data", ...), or the
 * message itself when it is not an HDF5 error stack.
 */
export function hdf5Cause(e: unknown): string {
  const msg = (e as Error)?.message ?? String(e);
  if (!msg.includes("HDF5-DIAG")) return msg;
  const causes = [...msg.matchAll(/in \w+\(\): ([^\n]+)/g)].map((m) => m[1].trim());
  const minor = [...msg.matchAll(/minor: ([^\n]+)/g)].map((m) => m[1].trim());
  return [causes.at(-1), minor.at(-1)].filter(Boolean).join(": ") || "HDF5 error";
}

/** Filters this build of the HDF5 library decodes (deflate/gzip, shuffle, fletcher32). */
export const SUPPORTED_FILTERS: ReadonlySet<number> = new Set([1, 2, 3]);
