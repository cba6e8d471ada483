// The built-in default data set of the CLI tasks: synthetic JetClass-like jets, cached.
import { JetFileWriter } from "../src/data/hdf5.ts";
import { synthJetClass } from "../src/data/synth.ts";

/** Cache folder of the default data. */
export const CACHE = ".cache/synth";

/** Path of the default data for `seed`, generated once (60 000 jets). */
export async function defaultData(seed: number): Promise<string> {
  const path = `${CACHE}/jetclass_60000_seed${seed}.h5`;
  try {
    Deno.statSync(path);
    return path;
  } catch { /* generate */ }
  await Deno.mkdir(CACHE, { recursive: true });
  console.log(`generating 60000 synthetic JetClass-like jets (once) -> ${path}`);
  const w = JetFileWriter.create(path, { nParticles: 128, features: synthJetClass(1).features });
  for (let s = 0; s < 60000; s += 10000) w.append(synthJetClass(10000, { seed, start: s }));
  w.close();
  return path;
}
