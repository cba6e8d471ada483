// The public-dataset readers on fixtures written in each dataset's own format by the library
// that writes the real files (tests/fixtures/datasets/make_fixtures.py: pandas, numpy, h5py),
// checked against expected.json, computed there with numpy following the reference conversions.
import { JetFileReader } from "../../src/data/hdf5.ts";
import { btagFromEntries, BTagRootReader } from "../../src/data/datasets/btag_root.ts";
import { JetNetReader } from "../../src/data/datasets/jetnet.ts";
import { jetKinematics, wrapPhi } from "../../src/data/datasets/kinematics.ts";
import { NpzFile } from "../../src/data/datasets/_npz.ts";
import { pdgParticleType, QuarkGluonReader } from "../../src/data/datasets/qg.ts";
import { TopTaggingReader } from "../../src/data/datasets/toptag.ts";
import { DataError } from "../../src/data/errors.ts";
import type { RootEntry } from "../../src/data/root_tree.ts";
import type { JetBlock } from "../../src/data/types.ts";
import { runTask, snapshot } from "../reliability/_battery.ts";
import { assertClose } from "../_helpers/mod.ts";

const dir = new URL("../fixtures/datasets/", import.meta.url).pathname;
interface ExpectedJet {
  csts: number[][];
  ids?: number[];
  vtx_id?: number[];
  track_type?: number[];
  vtx_pos?: number[][];
  jet: number[];
  label: number;
}
const expected = JSON.parse(await Deno.readTextFile(`${dir}expected.json`)) as {
  toptag: ExpectedJet[];
  qg: ExpectedJet[];
  jetnet: Record<string, ExpectedJet[]>;
  btag: ExpectedJet[];
};

/** Compares a block with the expected jets (features, ids, jets, labels, BTag truth). */
function compare(
  block: JetBlock,
  want: ExpectedJet[],
  what: string,
  tol = { atol: 2e-4, rtol: 2e-5 },
) {
  if (block.n !== want.length) throw new Error(`${what}: ${block.n} jets, want ${want.length}`);
  const P = block.nParticles, F = block.features.length;
  want.forEach((w, j) => {
    const m = w.csts.length;
    let real = 0;
    for (let k = 0; k < P; k++) real += block.valid[j * P + k];
    if (real !== m) throw new Error(`${what} jet ${j}: ${real} particles, want ${m}`);
    const got = Array.from(block.csts.subarray(j * P * F, (j * P + m) * F));
    assertClose(got, w.csts.flat(), { ...tol, label: `${what} jet ${j} features` });
    // Padding is zero.
    if (block.csts.subarray((j * P + m) * F, (j + 1) * P * F).some((v) => v !== 0)) {
      throw new Error(`${what} jet ${j}: padding not zero`);
    }
    assertClose(Array.from(block.jets!.subarray(j * 5, j * 5 + 5)), w.jet, {
      ...tol,
      label: `${what} jet ${j} jet features`,
    });
    if (block.labels![j] !== w.label) {
      throw new Error(`${what} jet ${j}: label ${block.labels![j]}`);
    }
    for (
      const [key, arr] of [["ids", block.ids], ["vtx_id", block.vtxId], [
        "track_type",
        block.trackType,
      ]] as const
    ) {
      const exp = w[key];
      if (!exp) continue;
      const g = Array.from(arr!.subarray(j * P, j * P + m));
      if (g.join() !== exp.join()) {
        throw new Error(`${what} jet ${j} ${key}: [${g}], want [${exp}]`);
      }
    }
    if (w.vtx_pos) {
      const V = block.nVertices!;
      assertClose(
        Array.from(block.vtxPos!.subarray(j * V * 4, (j + 1) * V * 4)),
        w.vtx_pos.flat(),
        {
          ...tol,
          label: `${what} jet ${j} vtx_pos`,
        },
      );
    }
  });
}

Deno.test("kinematics: the jet axis is the four-vector sum, Δφ wraps across ±π, order is by pT", () => {
  // Two particles either side of φ = π: the axis is at π and both Δφ are small.
  const phi = [Math.PI - 0.1, -Math.PI + 0.05];
  const pt = [10, 20];
  const k = jetKinematics({
    px: pt.map((p, i) => p * Math.cos(phi[i])),
    py: pt.map((p, i) => p * Math.sin(phi[i])),
    pz: [0, 0],
  }, 128);
  if (k.order.join() !== "1,0") throw new Error(`order ${k.order}`);
  if (!(Math.abs(k.dphi[0]) < 0.11 && Math.abs(k.dphi[1]) < 0.11)) {
    throw new Error(`dphi ${k.dphi}`);
  }
  if (Math.sign(k.dphi[0]) === Math.sign(k.dphi[1])) {
    throw new Error("the axis is not between them");
  }
  assertClose([wrapPhi(Math.PI), wrapPhi(-Math.PI), wrapPhi(7)], [
    Math.PI,
    Math.PI,
    7 - 2 * Math.PI,
  ]);
});

Deno.test("top tagging: pandas fixed and table frames read as the reference's make_toptag.py converts them", async () => {
  for (const f of ["toptag_fixed.h5", "toptag_table.h5"]) {
    const r = TopTaggingReader.open(`${dir}${f}`);
    if (r.n !== 6 || r.slots !== 200) throw new Error(`${f}: ${r.n} jets, ${r.slots} slots`);
    const block = await r.read(0, r.n);
    if (block.features.join() !== "pt,deta,dphi" || block.ids) throw new Error(`${f}: layout`);
    compare(block, expected.toptag, f);
    // A range read equals the same rows of a full read.
    const part = await r.read(2, 3);
    compare(part, expected.toptag.slice(2, 5), `${f} rows 2..4`);
    r.close();
  }
});

Deno.test("quark-gluon: compressed and stored .npz stream as weaver's converter computes them, PDG ids to types", async () => {
  const r = await QuarkGluonReader.open(`${dir}qg_jets.npz`);
  if (r.n !== 5 || r.slots !== 139) throw new Error(`${r.n} jets, ${r.slots} slots`);
  compare(await r.read(0, 5), expected.qg, "qg_jets.npz", { atol: 1e-4, rtol: 1e-6 });
  // Reading backwards restarts the stream.
  compare(await r.read(1, 2), expected.qg.slice(1, 3), "qg_jets.npz rows 1..2", {
    atol: 1e-4,
    rtol: 1e-6,
  });
  r.close();
  const s = await QuarkGluonReader.open(`${dir}qg_jets_stored.npz`);
  compare(await s.read(0, 2), expected.qg.slice(0, 2), "qg_jets_stored.npz", {
    atol: 1e-4,
    rtol: 1e-6,
  });
  const npz = await NpzFile.open(`${dir}qg_jets.npz`);
  const h = await npz.header("X");
  if (h.descr !== "<f8" || h.shape.join() !== "5,139,4") {
    throw new Error(`header ${JSON.stringify(h)}`);
  }
  const table: [number, number][] = [
    [22, 0],
    [-211, 1],
    [2112, 2],
    [321, 3],
    [11, 4],
    [-11, 5],
    [13, 6],
    [-13, 7],
    [12, -1],
  ];
  for (const [pid, t] of table) {
    if (pdgParticleType(pid) !== t) {
      throw new Error(`PDG ${pid}: ${pdgParticleType(pid)}, want ${t}`);
    }
  }
});

Deno.test("jetnet: pTrel times the jet pT, the mask, and the label from the file name", async () => {
  for (const [name, slots] of [["g", 30], ["t150", 150]] as const) {
    const r = JetNetReader.open(`${dir}jetnet/${name}.hdf5`);
    if (r.slots !== slots || r.nParticles !== slots) throw new Error(`${name}: ${r.slots} slots`);
    compare(await r.read(0, r.n), expected.jetnet[name], `jetnet ${name}`);
    r.close();
  }
  const tmp = await Deno.makeTempDir();
  await Deno.copyFile(`${dir}jetnet/g.hdf5`, `${tmp}/gluons.hdf5`);
  let msg = "";
  try {
    JetNetReader.open(`${tmp}/gluons.hdf5`);
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("--jet-type")) throw new Error(`an unnamed jet type was accepted: ${msg}`);
  if (JetNetReader.open(`${tmp}/gluons.hdf5`, { jetType: "q" }).label !== 1) {
    throw new Error("jetType");
  }
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("btag: entries convert as the reference's make_shlomi.py (signing, types, flavours, track origins, vertices)", async () => {
  const entries = JSON.parse(await Deno.readTextFile(`${dir}btag_entries.json`)) as RootEntry[];
  const block = btagFromEntries(entries);
  if (block.nParticles !== 15 || block.features.length !== 7) throw new Error("layout");
  compare(block, expected.btag, "btag entries", { atol: 1e-5, rtol: 1e-5 });
  // A flavour outside {0, 4, 5} is refused by row.
  let msg = "";
  try {
    btagFromEntries([{ ...entries[0], jet_flav: 3 }], { file: "x.root", first: 7 });
  } catch (e) {
    msg = e instanceof DataError ? e.message : String(e);
  }
  if (!msg.includes("x.root") || !msg.includes("7") || !msg.includes("flavour 3")) {
    throw new Error(msg);
  }
});

Deno.test("btag: a real ROOT tree read through a branch map equals the conversion of its raw entries", async () => {
  // No BTag ROOT file can be written here (no ROOT writer); a real vector<float> tree stands in,
  // its branches mapped onto the track branches, and is compared with the raw jsroot entries.
  const path = new URL("../fixtures/uproot-issue-172.root", import.meta.url).pathname;
  const map = {
    trk_pt: "rec_part_px",
    trk_eta: "rec_part_py",
    trk_phi: "rec_part_pz",
    trk_d0: "rec_part_track_D0",
    trk_z0: "rec_part_track_Z0",
    trk_d0err: "rec_part_mass",
    trk_z0err: "rec_part_mass",
    trk_charge: "rec_part_charge",
    trk_pdg_id: "rec_part_charge",
  };
  const r = await BTagRootReader.open(path, { branchMap: map });
  if (r.n !== 10 || r.nVertices !== 0) throw new Error(`${r.n} entries, ${r.nVertices} vertices`);
  const block = await r.read(0, 10);
  const { openFile } = await import("jsroot/io");
  const { treeProcess, TSelector } = await import("jsroot/tree");
  const t = await (await openFile(path)).readObject("events");
  const raw: RootEntry[] = [];
  const sel = new TSelector();
  new Set(Object.values(map)).forEach((b) => sel.addBranch(b));
  sel.Process = function (this: { tgtobj: Record<string, ArrayLike<number>> }) {
    raw.push(
      Object.fromEntries(
        Object.entries(map).map(([k, b]) => [k, Float64Array.from(this.tgtobj[b])]),
      ),
    );
  };
  await treeProcess(t, sel);
  const want = btagFromEntries(raw);
  assertClose(block.csts, want.csts, { atol: 0, label: "csts" });
  if (block.valid.join() !== want.valid.join()) throw new Error("valid");
  if (block.vtxId || block.labels) throw new Error("no truth or label branches: none expected");
});

Deno.test("data convert --from each format writes the library's layout with class names, never over an input", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "mpm-convert-" });
  const cases: [string, string[], string, number][] = [
    ["toptag", [`${dir}toptag_fixed.h5`, `${dir}toptag_table.h5`], "QCD,top", 12],
    ["qg", [`${dir}qg_jets.npz`], "gluon,quark", 5],
    ["jetnet", [`${dir}jetnet/g.hdf5`], "g,q,t,w,z", 4],
  ];
  for (const [from, inputs, names, n] of cases) {
    const r = await runTask(tmp, "data", [
      "convert",
      "--from",
      from,
      ...inputs,
      "--out",
      `${from}.h5`,
    ]);
    if (r.code !== 0) throw new Error(`${from}: ${r.err}`);
    const f = JetFileReader.open(`${tmp}/${from}.h5`);
    if (
      f.info.n !== n || f.info.classNames?.join() !== names ||
      f.info.classes !== names.split(",").length
    ) {
      throw new Error(`${from}: ${JSON.stringify(f.info)}`);
    }
    const block = f.read(0, f.info.n);
    f.close();
    const want = from === "toptag"
      ? [...expected.toptag, ...expected.toptag]
      : from === "qg"
      ? expected.qg
      : expected.jetnet.g;
    compare(block, want, `converted ${from}`);
  }
  // ROOT trees with other branch names: the error names the flag, and the flag works.
  const root172 = new URL("../fixtures/uproot-issue-172.root", import.meta.url).pathname;
  const plain = await runTask(tmp, "data", ["convert", root172, "--out", "r.h5"]);
  if (plain.code === 0 || !plain.err.includes("--branch part_px=BRANCH")) {
    throw new Error(plain.err);
  }
  const mapped = await runTask(tmp, "data", [
    "convert",
    root172,
    "--branch",
    "part_px=rec_part_px",
    "--branch",
    "part_py=rec_part_py",
    "--branch",
    "part_pz=rec_part_pz",
    "--out",
    "r.h5",
  ]);
  if (mapped.code !== 0) throw new Error(mapped.err);
  const rr = JetFileReader.open(`${tmp}/r.h5`);
  if (rr.info.n !== 10 || rr.info.features.join() !== "pt,deta,dphi") {
    throw new Error(JSON.stringify(rr.info));
  }
  rr.close();
  // A second run refuses the existing output and changes nothing.
  const before = await snapshot(tmp);
  const again = await runTask(tmp, "data", [
    "convert",
    "--from",
    "qg",
    `${dir}qg_jets.npz`,
    "--out",
    "qg.h5",
  ]);
  if (again.code === 0 || !again.err.includes("--overwrite")) throw new Error(again.err);
  // A file of another format is refused naming it.
  const wrong = await runTask(tmp, "data", [
    "convert",
    "--from",
    "toptag",
    `${dir}qg_jets.npz`,
    "--out",
    "w.h5",
  ]);
  if (wrong.code === 0 || !wrong.err.includes("qg_jets.npz") || wrong.err.includes("    at ")) {
    throw new Error(`wrong format: ${wrong.err}`);
  }
  const after = await snapshot(tmp);
  if ([...before].join() !== [...after].join()) throw new Error("files changed");
  await Deno.remove(tmp, { recursive: true });
});
