// The built-in default data set of the CLI tasks: synthetic JetClass-like jets, generated once
// into a cache folder (about 290 MB per seed): --cache-dir DIR, else $MPM_CACHE_DIR, else
// .cache/synth in the working folder.
import { JetFileWriter } from "../src/data/hdf5.ts";
import { synthJetClass } from "../src/data/synth.ts";
import { JETCLASS_LABELS } from "../src/data/types.ts";

/** Default cache folder of the default data. */
export const CACHE = ".cache/synth";

/** The `--cache-dir` flag every command that falls back on the default data accepts. */
export const CACHE_FLAG = {
  type: "path",
  help: "folder of the cached default data (default $MPM_CACHE_DIR or .cache/synth; ~290 MB)",
  meta: "DIR",
} as const;

/** The cache folder: the flag, else $MPM_CACHE_DIR, else `.cache/synth`. */
export function cacheDir(flag?: string): string {
  return flag ?? Deno.env.get("MPM_CACHE_DIR") ?? CACHE;
}

/** Path of the default data for `seed`, generated once (60 000 jets). */
export async function defaultData(seed: number, dir?: string): Promise<string> {
  const folder = cacheDir(dir);
  const path = `${folder}/jetclass_60000_seed${seed}.h5`;
  try {
    Deno.statSync(path);
    return path;
  } catch { /* generate */ }
  await Deno.mkdir(folder, { recursive: true });
  console.log(
    `generating the default data once: 60000 synthetic JetClass-like jets (~290 MB) -> ${path}` +
      ` (move it with --cache-dir or MPM_CACHE_DIR)`,
  );
  const w = JetFileWriter.create(path, {
    nParticles: 128,
    features: synthJetClass(1).features,
    classNames: JETCLASS_LABELS,
  });
  try {
    for (let s = 0; s < 60000; s += 10000) w.append(synthJetClass(10000, { seed, start: s }));
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
  return path;
}
