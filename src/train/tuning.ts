/**
 * A run's matmul tuning (storage-path adapters): tuned after the run's first step and kept in
 * `tuning.json`, so a resumed run computes with the kernels its first session chose.
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import { writeAtomic } from "../io/files.ts";
import { matmulTunings, setMatmulTunings, tuneMatmuls } from "../kernels/matmul_tuner.ts";

/**
 * Installs the choices of `dir/tuning.json` when the file exists (a resumed run).
 *
 * @param gpu the device
 * @param dir the run folder
 * @throws {Error} naming the file when it cannot be read as a tuning
 * @example
 * ```ts ignore
 * if (resume) await installRunTuning(gpu, out);
 * ```
 */
export async function installRunTuning(gpu: Gpu, dir: string): Promise<void> {
  const file = `${dir}/tuning.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  try {
    const entries = Object.entries(JSON.parse(text) as Record<string, string>);
    setMatmulTunings(gpu, entries);
  } catch (e) {
    throw new Error(
      `${file}: not a matmul tuning (${(e as Error).message}); delete it to tune again`,
    );
  }
}

/**
 * Tunes the shape classes the run's first step met (`tuneMatmuls`), logs the choices and
 * records every choice in `dir/tuning.json` (when `dir` is given). Nothing happens on the texture
 * path.
 *
 * @param gpu the device
 * @param dir the run folder, or null to record nothing
 * @param log where the choices are reported
 * @example
 * ```ts ignore
 * if (step === first) await tuneRun(gpu, out, console.log);
 * ```
 */
export async function tuneRun(
  gpu: Gpu,
  dir: string | null,
  log: (s: string) => void,
): Promise<void> {
  const tuned = await tuneMatmuls(gpu);
  if (!tuned.length) return;
  const tiled = tuned.filter((t) => t.kernel === "matmul_tiled").length;
  log(
    `tuned the matmul for ${tuned.length} shape classes: ${tiled} shared-memory tiled, ` +
      `${tuned.length - tiled} register-tiled${dir ? ` (${dir}/tuning.json)` : ""}`,
  );
  if (!dir) return;
  await writeAtomic(
    `${dir}/tuning.json`,
    JSON.stringify(Object.fromEntries(matmulTunings(gpu)), null, 2),
  );
}
