// ROOT reading: real scikit-hep-testdata files, and a round trip of our own jets through the
// reference conversion.
import { openFile } from "jsroot/io";
import { treeProcess, TSelector } from "jsroot/tree";
import { DataError } from "../../src/data/errors.ts";
import { jetClassFromEntries, type RootEntry, RootJetReader } from "../../src/data/root.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { assertClose, rng } from "../_helpers/mod.ts";

const fixture = (n: string) => new URL(`../fixtures/${n}`, import.meta.url).pathname;

async function rawBranches(
  path: string,
  tree: string,
  names: string[],
): Promise<Record<string, number[]>[]> {
  const f = await openFile(path);
  const t = await f.readObject(tree);
  const out: Record<string, number[]>[] = [];
  const sel = new TSelector();
  names.forEach((n) => sel.addBranch(n));
  sel.Process = function (this: { tgtobj: Record<string, ArrayLike<number>> }) {
    out.push(Object.fromEntries(names.map((n) => [n, Array.from(this.tgtobj[n])])));
  };
  await treeProcess(t, sel);
  return out;
}

Deno.test("root reads a real vector<float> particle tree through a branch map (uproot-issue-172.root)", async () => {
  const map = {
    part_px: "rec_part_px",
    part_py: "rec_part_py",
    part_pz: "rec_part_pz",
    part_charge: "rec_part_charge",
  };
  const reader = await RootJetReader.open(fixture("uproot-issue-172.root"), { branchMap: map });
  if (reader.n !== 10) throw new Error(`entries ${reader.n}`);
  const block = await reader.read(0, 10);
  const raw = await rawBranches(fixture("uproot-issue-172.root"), "events", [
    "rec_part_px",
    "rec_part_py",
    "rec_part_pz",
  ]);
  if (block.features.join() !== "pt,deta,dphi" || block.ids) {
    throw new Error("expected kinematics-only, no types");
  }
  for (let j = 0; j < 10; j++) {
    const { rec_part_px: px, rec_part_py: py, rec_part_pz: pz } = raw[j];
    const pt = px.map((x, i) => Math.hypot(x, py[i]));
    const sorted = [...pt].filter((v) => v > 0).sort((a, b) => b - a).slice(0, 128);
    const got = Array.from({ length: sorted.length }, (_, k) => block.csts[(j * 128 + k) * 3]);
    assertClose(got, sorted, { atol: 1e-4, rtol: 1e-6, label: `entry ${j} pT` });
    if (block.jets![j * 5 + 4] !== sorted.length) throw new Error(`entry ${j}: n_csts`);
    // Axis of the particle sum: the pT-weighted mean dphi is ~0.
    let sx = 0, sy = 0, sz = 0;
    px.forEach((x, i) => {
      sx += x;
      sy += py[i];
      sz += pz[i];
    });
    const jetPt = Math.hypot(sx, sy);
    assertClose([block.jets![j * 5]], [jetPt], { atol: 1e-3, rtol: 1e-6 });
  }
  const partial = await reader.read(3, 2);
  assertClose(partial.csts.subarray(0, 128 * 3), block.csts.subarray(3 * 128 * 3, 4 * 128 * 3), {
    atol: 0,
  });
});

/** Independent DIPS lifetime sign: sign((J x T) . (T x (-D))) with D the closest approach point. */
function dipsSign(
  d0: number,
  z0: number,
  pt: number,
  eta: number,
  phi: number,
  jpt: number,
  jeta: number,
  jphi: number,
): number {
  const vec = (
    p: number,
    e: number,
    f: number,
  ) => [p * Math.cos(f), p * Math.sin(f), p * Math.sinh(e)];
  const cross = (
    a: number[],
    b: number[],
  ) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const T = vec(pt, eta, phi), J = vec(jpt, jeta, jphi);
  const D = [d0 * Math.cos(phi - Math.PI / 2), d0 * Math.sin(phi - Math.PI / 2), z0];
  const a = cross(J, T), b = cross(T, D.map((v) => -v));
  return Math.sign(a[0] * b[0] + a[1] * b[1] + a[2] * b[2]);
}

Deno.test("root conversion round-trips our own jets (order, clipping, lifetime signs, types, mixed-type labels)", () => {
  const src = synthJetClass(40, { seed: 9 });
  const r = rng(3);
  const entries: RootEntry[] = [];
  for (let j = 0; j < src.n; j++) {
    const [jpt, jeta, jphi, msd] = Array.from(src.jets!.subarray(j * 5, j * 5 + 4));
    const n = src.jets![j * 5 + 4];
    const perm = Array.from({ length: n }, (_, i) => i).sort(() => r() - 0.5); // unsorted, as in the files
    const col = (c: number) => perm.map((k) => src.csts[(j * 128 + k) * 7 + c]);
    const ids = perm.map((k) => src.ids![j * 128 + k]);
    const e: RootEntry = {
      part_px: col(0).map((pt, i) => pt * Math.cos(col(2)[i] + jphi)),
      part_py: col(0).map((pt, i) => pt * Math.sin(col(2)[i] + jphi)),
      part_deta: col(1),
      part_dphi: col(2),
      part_d0val: col(3).map((v) => (r() < 0.5 ? v : -v)), // raw detector signs, re-signed by the conversion
      part_d0err: col(4),
      part_dzval: col(5),
      part_dzerr: col(6),
      part_charge: ids.map((t) => [0, -1, 0, 1, -1, 1, -1, 1][t]),
      part_isPhoton: ids.map((t) => +(t === 0)),
      part_isNeutralHadron: ids.map((t) => +(t === 2)),
      part_isChargedHadron: ids.map((t) => +(t === 1 || t === 3)),
      part_isElectron: ids.map((t) => +(t === 4 || t === 5)),
      part_isMuon: ids.map((t) => +(t === 6 || t === 7)),
      jet_pt: jpt,
      jet_eta: jeta,
      jet_phi: jphi,
      jet_sdmass: msd,
    };
    // One-hot labels of mixed types, as in JetClass (float, bool, int32).
    [
      "label_QCD",
      "label_Tbl",
      "label_Tbqq",
      "label_Wqq",
      "label_Zqq",
      "label_Hbb",
      "label_Hcc",
      "label_Hgg",
      "label_H4q",
      "label_Hqql",
    ]
      .forEach((
        k,
        c,
      ) => (e[k] = c === 0
        ? Number(c === src.labels![j])
        : c < 5
        ? (c === src.labels![j] ? 1 : 0)
        : c === src.labels![j])
      );
    entries.push(e);
  }
  const out = jetClassFromEntries(entries);
  // Raw d0 of each output slot: the entry's value for the particle of that pT.
  const rawD0 = (j: number, pt: number) => {
    const e = entries[j], px = e.part_px as number[], py = e.part_py as number[];
    const i = px.findIndex((x, q) => Math.abs(Math.hypot(x, py[q]) - pt) < 1e-4 * pt);
    return (e.part_d0val as number[])[i];
  };
  for (let j = 0; j < src.n; j++) {
    if (out.labels![j] !== src.labels![j]) {
      throw new Error(`jet ${j}: label ${out.labels![j]} != ${src.labels![j]}`);
    }
    const [jpt, jeta, jphi] = Array.from(src.jets!.subarray(j * 5, j * 5 + 3));
    for (let k = 0; k < 128; k++) {
      const i = j * 128 + k;
      if (out.valid[i] !== src.valid[i]) throw new Error(`jet ${j} slot ${k}: mask`);
      if (!src.valid[i]) continue;
      const s = Array.from(src.csts.subarray(i * 7, i * 7 + 7)),
        o = Array.from(out.csts.subarray(i * 7, i * 7 + 7));
      assertClose([o[0], o[1], o[2], Math.abs(o[3]), o[4], Math.abs(o[5]), o[6]], [
        s[0],
        s[1],
        s[2],
        Math.abs(s[3]),
        s[4],
        Math.abs(s[5]),
        s[6],
      ], { atol: 1e-5, rtol: 1e-5, label: `jet ${j} slot ${k}` });
      const expectD0 = dipsSign(
        rawD0(j, s[0]),
        s[5],
        s[0],
        s[1] + jeta,
        s[2] + jphi,
        jpt,
        jeta,
        jphi,
      );
      if (Math.sign(o[3]) !== expectD0 && s[3] !== 0) {
        throw new Error(`jet ${j} slot ${k}: d0 sign`);
      }
      if (Math.sign(o[5]) !== Math.sign(s[5] * (jeta - (s[1] + jeta))) && s[5] !== 0) {
        throw new Error(`jet ${j} slot ${k}: dz sign`);
      }
      if (out.ids![i] !== src.ids![i]) {
        throw new Error(`jet ${j} slot ${k}: type ${out.ids![i]} != ${src.ids![i]}`);
      }
    }
  }
});

Deno.test("root conversion clips deta/dphi to 0.8, drops pT = 0, sets NaN to 0 and truncates to the slot count", () => {
  const e: RootEntry = {
    part_px: [1, 0, 2, 3, 0.5],
    part_py: [0, 0, 0, 0, 0],
    part_deta: [1.2, 0, NaN, -0.9, 0.1],
    part_dphi: [0, 0, 0.3, 0, -2],
    jet_pt: 10,
    jet_eta: 0,
    jet_phi: 0,
  };
  const b = jetClassFromEntries([e], 3);
  assertClose(Array.from(b.csts), [3, -0.8, 0, 2, 0, 0.3, 1, 0.8, 0].map(Math.fround), { atol: 0 });
  if (b.jets![4] !== 3) throw new Error("n_csts counts the kept particles");
});

Deno.test("root bad input: missing file, not a ROOT file, missing tree, missing branches", async () => {
  const tmp = await Deno.makeTempDir();
  Deno.writeTextFileSync(`${tmp}/x.root`, "not root");
  const cases: [() => Promise<unknown>, string][] = [
    [() => RootJetReader.open(`${tmp}/none.root`), "not found"],
    [() => RootJetReader.open(`${tmp}/x.root`), "ROOT"],
    [
      () => RootJetReader.open(fixture("uproot-issue-172.root"), { tree: "jets" }),
      "TTree not found",
    ],
    [() => RootJetReader.open(fixture("uproot-HZZ-objects.root")), "part_px"],
  ];
  for (const [fn, needle] of cases) {
    try {
      await fn();
      throw new Error(`expected a DataError with "${needle}"`);
    } catch (e) {
      if (!(e instanceof DataError) || !e.message.includes(needle)) throw e;
    }
  }
});
