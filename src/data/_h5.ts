/**
 * The HDF5 library (h5wasm), loaded once for `src/data/`: its diagnostic printing is replaced by
 * thrown errors (so a bad file gives our one-line message, not a 40-line C error stack), and
 * {@linkcode hdf5Cause} shortens such an error to its innermost cause.
 *
 * @module
 */
import h5wasm from "h5wasm";

// The HDF5 runtime reads the whole environment when it starts, so it starts only when the
// program may read it (`--allow-env`); otherwise importing the library needs no permission and
// the first HDF5 call says what to add.
const envGranted = Deno.permissions.querySync?.({ name: "env" }).state === "granted";
let ready = false;
if (envGranted) {
  const module = await h5wasm.ready as unknown as {
    activate_throwing_error_handler?: () => number;
  };
  module.activate_throwing_error_handler?.();
  ready = true;
} else {
  // The runtime starts itself on import and fails without the permission: keep that quiet.
  (h5wasm.ready as Promise<unknown>).catch(() => {});
}

export { h5wasm };

/**
 * Error of an HDF5 call in a program without the permission the HDF5 runtime needs.
 *
 * @example
 * ```ts
 * import { Hdf5PermissionError } from "@mpm/webgpu/data";
 * console.assert(new Hdf5PermissionError("a.h5").message.includes("--allow-env"));
 * ```
 */
export class Hdf5PermissionError extends Error {
  /** The error for an HDF5 call on `path`. */
  constructor(path: string) {
    super(
      `${path}: reading or writing HDF5 files needs --allow-env (the HDF5 runtime reads the ` +
        "environment when it starts) as well as --allow-read/--allow-write; run with " +
        "`deno run --allow-env --allow-read --allow-write ...`",
    );
    this.name = "Hdf5PermissionError";
  }
}

/**
 * Opens an HDF5 file ("r" read, "w" create), once the runtime is started.
 *
 * @throws {Hdf5PermissionError} when the program lacks `--allow-env`
 */
export function openH5(path: string, mode: "r" | "w"): H5File {
  if (!ready) throw new Hdf5PermissionError(path);
  return new h5wasm.File(path, mode);
}

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
