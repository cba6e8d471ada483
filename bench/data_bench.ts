/**
 * Data benchmarks: generator speed, HDF5 and ROOT read speed, and peak memory while streaming
 * an HDF5 file larger than 2 GB. Used by `bench/bench.ts` (`deno task bench`).
 *
 * @module
 */
import { JetFileWriter } from "../src/data/hdf5.ts";
import { JetLoader } from "../src/data/loader.ts";
import { QuantileTransform } from "../src/data/preprocess.ts";
import { RootJetReader } from "../src/data/root.ts";
import { synthJetClass } from "../src/data/synth.ts";

/** Reports one figure. */
export type Report = (name: string, shape: string, value: number, unit: string) => void;

const fixture = (n: string) => new URL(`../tests/fixtures/${n}`, import.meta.url).pathname;

/** Runs the data benchmarks; `bigBytes` is the size of the streamed file (default 2.2 GB). */
export async function dataBenchmarks(
  report: Report,
  options: { bigBytes?: number; dir?: string } = {},
): Promise<void> {
  // Generator alone.
  let t0 = performance.now();
  synthJetClass(50000, { seed: 1 });
  report("synth_jetclass", "50000 jets", 50000 / ((performance.now() - t0) / 1000), "jets/s");

  // Write a large file (streamed in blocks), then stream it back.
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "mpm-bench-" });
  const path = `${dir}/big.h5`;
  const bytesPerJet = 128 * (7 * 4 + 8 + 1) + 8 + 40;
  const nJets = Math.ceil((options.bigBytes ?? 2.2e9) / bytesPerJet);
  t0 = performance.now();
  const w = JetFileWriter.create(path, { nParticles: 128, features: synthJetClass(1).features });
  for (let s = 0; s < nJets; s += 10000) {
    w.append(synthJetClass(Math.min(10000, nJets - s), { seed: 2, start: s }));
  }
  w.close();
  const size = Deno.statSync(path).size;
  report("synth_write_hdf5", `${nJets} jets`, nJets / ((performance.now() - t0) / 1000), "jets/s");

  const pre = QuantileTransform.fit([synthJetClass(5000, { seed: 3 })]);
  for (const withPre of [false, true]) {
    const loader = new JetLoader({
      files: [path],
      batchSize: 1000,
      window: 8192,
      seed: 4,
      loop: false,
      preprocessor: withPre ? pre : undefined,
    });
    const rss0 = Deno.memoryUsage().rss;
    let peak = rss0, jets = 0;
    t0 = performance.now();
    for (let b = loader.next(); b; b = loader.next()) {
      jets += b.size;
      peak = Math.max(peak, Deno.memoryUsage().rss);
      if (withPre && jets >= 200000) break; // the transform is CPU-bound; a sample is enough
    }
    const sec = (performance.now() - t0) / 1000;
    loader.close();
    const tag = `${(size / 1e9).toFixed(2)} GB file${withPre ? ", quantile preprocessing" : ""}`;
    report(withPre ? "hdf5_stream_preprocessed" : "hdf5_stream", tag, jets / sec, "jets/s");
    if (!withPre) {
      report("hdf5_stream_rss_before", tag, rss0 / 2 ** 20, "MiB");
      report("hdf5_stream_peak_rss", tag, peak / 2 ** 20, "MiB");
    }
  }
  await Deno.remove(path);

  // ROOT: the JetClass-like real fixture (10 entries, repeated) through the full conversion.
  const r = await RootJetReader.open(fixture("uproot-issue-172.root"), {
    branchMap: { part_px: "rec_part_px", part_py: "rec_part_py", part_pz: "rec_part_pz" },
  });
  t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < 2000) n += (await r.read(0, r.n)).n;
  report(
    "root_read_convert",
    "uproot-issue-172.root (10 entries, ~40 particles)",
    n / ((performance.now() - t0) / 1000),
    "jets/s",
  );
}

if (import.meta.main) {
  const big = Deno.args.includes("--quick") ? 2e8 : 2.2e9;
  await dataBenchmarks(
    (name, shape, value, unit) =>
      console.log(
        `${name.padEnd(26)} ${shape.padEnd(44)} ${value.toPrecision(4).padStart(10)} ${unit}`,
      ),
    { bigBytes: big },
  );
}
