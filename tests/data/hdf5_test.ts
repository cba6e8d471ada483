// HDF5 jet files: h5py-written reference layouts, round trips, chunked reads, bad input.
import { DataError } from "../../src/data/errors.ts";
import { JetFileReader, JetFileWriter, writeJetFile } from "../../src/data/hdf5.ts";
import { synthBTag, synthJetClass } from "../../src/data/synth.ts";
import { KINEMATIC_FEATURES, selectFeatures } from "../../src/data/types.ts";
import h5wasm from "h5wasm";

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const tmp = await Deno.makeTempDir({ prefix: "mpm-h5-" });

Deno.test("hdf5 reads an h5py-written JetClass file (int64 ids/labels, bool enum mask, float64 jets)", () => {
  const r = JetFileReader.open(fixture("h5py_jetclass.h5"));
  const { info } = r;
  if (info.n !== 6 || info.nParticles !== 128 || info.features.length !== 7 || info.btag) {
    throw new Error(JSON.stringify(info));
  }
  const b = r.read(0, 100);
  r.close();
  const counts = [3, 128, 1, 40, 17, 77];
  for (let j = 0; j < 6; j++) {
    let n = 0;
    for (let k = 0; k < 128; k++) n += b.valid[j * 128 + k];
    if (n !== counts[j] || b.jets![j * 5 + 4] !== counts[j]) {
      throw new Error(`jet ${j}: ${n} particles`);
    }
  }
  if (b.labels!.join() !== "0,2,9,5,3,1") throw new Error(`labels ${b.labels}`);
  if (!b.ids!.every((v) => v >= 0 && v < 8)) throw new Error("ids out of range");
});

Deno.test("hdf5 reads an h5py-written BTag file (vtx_id, track_type, vtx_pos)", () => {
  const r = JetFileReader.open(fixture("h5py_btag.h5"));
  if (!r.info.btag || r.info.nParticles !== 15 || r.info.nVertices !== 3) {
    throw new Error(JSON.stringify(r.info));
  }
  const b = r.read(1, 2); // a chunk in the middle
  r.close();
  if (b.n !== 2 || b.labels!.join() !== "1,2") throw new Error(`labels ${b.labels}`);
  for (let i = 0; i < 30; i++) {
    if (!b.valid[i] && b.trackType![i] !== -1) throw new Error("padded track type");
  }
});

Deno.test("hdf5 round-trips synthetic JetClass and BTag blocks, and h5py reads our files", async () => {
  const jc = synthJetClass(50, { seed: 1 }), bt = synthBTag(40, { seed: 2 });
  writeJetFile(`${tmp}/jc.h5`, jc);
  writeJetFile(`${tmp}/bt.h5`, bt);
  for (const [path, src] of [[`${tmp}/jc.h5`, jc], [`${tmp}/bt.h5`, bt]] as const) {
    const r = JetFileReader.open(path);
    const b = r.read(0, src.n);
    r.close();
    for (
      const key of [
        "csts",
        "valid",
        "ids",
        "labels",
        "jets",
        "vtxId",
        "trackType",
        "vtxPos",
      ] as const
    ) {
      const a = src[key] as ArrayLike<number> | undefined,
        c = b[key] as ArrayLike<number> | undefined;
      if (!a) continue;
      if (!c || a.length !== c.length) throw new Error(`${path} ${key}: missing or wrong length`);
      for (let i = 0; i < a.length; i++) {
        if (a[i] !== c[i]) throw new Error(`${path} ${key}[${i}]: ${a[i]} != ${c[i]}`);
      }
    }
  }
  // The reference's own tooling (h5py) reads what we write, with the reference dtypes.
  const py = new Deno.Command("/usr/bin/python3", {
    args: [
      "-c",
      `import h5py,sys; f=h5py.File(sys.argv[1]); print(f['csts'].shape, f['csts_id'].dtype, f['labels'].dtype, f['jets'].dtype, int(f['mask'][:].sum()))`,
      `${tmp}/jc.h5`,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const out = await py.output().catch(() => null);
  if (out?.success) {
    const text = new TextDecoder().decode(out.stdout).trim();
    const nValid = jc.valid.reduce((s, v) => s + v, 0);
    if (text !== `(50, 128, 7) int64 int64 float64 ${nValid}`) throw new Error(`h5py saw: ${text}`);
  } else {
    console.log(
      "h5py not installed here: skipped the h5py read-back check (the h5py-written fixtures above still run)",
    );
  }
});

Deno.test("hdf5 writer streams blocks and reads back any window; the file appears only on close", () => {
  const path = `${tmp}/stream.h5`;
  const w = JetFileWriter.create(path, {
    nParticles: 128,
    features: synthJetClass(1).features,
    chunkRows: 64,
  });
  for (let k = 0; k < 5; k++) w.append(synthJetClass(100, { seed: 3, start: 100 * k }));
  let exists = true;
  try {
    Deno.statSync(path);
  } catch {
    exists = false;
  }
  if (exists) throw new Error("target written before close (must be atomic)");
  w.close();
  const r = JetFileReader.open(path);
  const mid = r.read(250, 100), ref = synthJetClass(100, { seed: 3, start: 250 });
  r.close();
  if (!mid.csts.every((v, i) => v === ref.csts[i])) throw new Error("window read differs");
});

Deno.test("hdf5 kinematics-only files declare their features", () => {
  const src = synthJetClass(5, { seed: 4 });
  writeJetFile(`${tmp}/kin.h5`, selectFeatures(src, KINEMATIC_FEATURES, { dropIds: true }));
  const r = JetFileReader.open(`${tmp}/kin.h5`);
  if (r.info.features.join() !== "pt,deta,dphi" || r.info.hasIds) {
    throw new Error(JSON.stringify(r.info));
  }
  r.close();
});

function expectDataError(fn: () => unknown, ...needles: string[]): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof DataError)) throw e;
    for (const n of needles) {
      if (!e.message.includes(n)) throw new Error(`message lacks "${n}": ${e.message}`);
    }
    return;
  }
  throw new Error("expected a DataError");
}

Deno.test("hdf5 bad input: missing file, not HDF5, truncated, missing dataset, wrong shape or dtype", () => {
  expectDataError(() => JetFileReader.open(`${tmp}/nope.h5`), "nope.h5", "not found");
  Deno.writeTextFileSync(`${tmp}/text.h5`, "not hdf5");
  expectDataError(() => JetFileReader.open(`${tmp}/text.h5`), "text.h5", "HDF5");
  const full = Deno.readFileSync(fixture("h5py_jetclass.h5"));
  Deno.writeFileSync(`${tmp}/trunc.h5`, full.slice(0, Math.floor(full.length * 0.6)));
  expectDataError(
    () => {
      const r = JetFileReader.open(`${tmp}/trunc.h5`);
      r.read(0, 6);
    },
    "trunc.h5",
    "truncated",
  );
  const f = new h5wasm.File(`${tmp}/bad.h5`, "w");
  f.create_dataset({ name: "csts", data: new Float32Array(2 * 4 * 7), shape: [2, 4, 7] });
  f.close();
  expectDataError(() => JetFileReader.open(`${tmp}/bad.h5`), "bad.h5", `"mask"`, "missing");
  const g = new h5wasm.File(`${tmp}/bad2.h5`, "w");
  g.create_dataset({ name: "csts", data: new Float32Array(2 * 4 * 7), shape: [2, 4, 7] });
  g.create_dataset({ name: "mask", data: new Int8Array(2 * 5), shape: [2, 5], dtype: "|b1" });
  g.close();
  expectDataError(() => JetFileReader.open(`${tmp}/bad2.h5`), "bad2.h5", `"mask"`, "shape [2,5]");
  const h = new h5wasm.File(`${tmp}/bad3.h5`, "w");
  h.create_dataset({
    name: "csts",
    data: new Int32Array(2 * 4 * 7),
    shape: [2, 4, 7],
    dtype: "<i4",
  });
  h.create_dataset({ name: "mask", data: new Int8Array(8), shape: [2, 4], dtype: "|b1" });
  h.close();
  expectDataError(
    () => JetFileReader.open(`${tmp}/bad3.h5`),
    "bad3.h5",
    `"csts"`,
    "floating point",
  );
});
