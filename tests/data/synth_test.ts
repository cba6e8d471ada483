// The synthetic generator: calibration against real JetClass quantiles, determinism, physics.
import { constituentDistances, parseQuantileCsv } from "../../src/data/calibration.ts";
import { synthBTag, synthJetClass } from "../../src/data/synth.ts";
import { JETCLASS_LABELS, multiplicity } from "../../src/data/types.ts";

const table = parseQuantileCsv(
  await Deno.readTextFile(
    new URL("../fixtures/jetclass_constituent_quantiles.csv", import.meta.url),
  ),
);

/** Bounds on the max normal-score quantile error (1 %-99 %), per feature; measured values are in bench/RESULTS.md. */
const BOUNDS: Record<string, number> = {
  pt: 0.4,
  deta: 0.3,
  dphi: 0.3,
  d0val: 0.4,
  d0err: 0.6,
  dzval: 0.3,
  dzerr: 0.9,
};

Deno.test("synth JetClass constituent marginals match real JetClass quantiles within bounds", () => {
  const block = synthJetClass(20000, { seed: 11 });
  const d = constituentDistances(block, table);
  console.log(
    "max normal-score quantile error:",
    Object.entries(d).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", "),
  );
  for (const [k, v] of Object.entries(d)) {
    if (!(v <= BOUNDS[k])) throw new Error(`${k}: distance ${v.toFixed(3)} exceeds ${BOUNDS[k]}`);
  }
});

Deno.test("synth is deterministic per jet: blocks of any size give identical jets", () => {
  const whole = synthJetClass(50, { seed: 5 });
  const a = synthJetClass(20, { seed: 5 }), b = synthJetClass(30, { seed: 5, start: 20 });
  const joined = new Float32Array([...a.csts, ...b.csts]);
  if (!joined.every((v, i) => v === whole.csts[i])) throw new Error("block split changed the jets");
  const other = synthJetClass(20, { seed: 6 });
  if (other.csts.every((v, i) => v === a.csts[i])) throw new Error("seed has no effect");
});

Deno.test("synth jets are pT-ordered, padded with zeros, and consistent with n_csts", () => {
  const b = synthJetClass(300, { seed: 2 });
  for (let j = 0; j < b.n; j++) {
    const n = multiplicity(b, j);
    if (n !== b.jets![j * 5 + 4] || n < 1) {
      throw new Error(`jet ${j}: ${n} particles vs n_csts ${b.jets![j * 5 + 4]}`);
    }
    for (let k = 0; k < b.nParticles; k++) {
      const o = (j * 128 + k) * 7;
      if (k < n) {
        if (k > 0 && b.csts[o] > b.csts[o - 7]) throw new Error(`jet ${j}: not pT-ordered at ${k}`);
        if (
          Math.abs(b.csts[o + 1]) > Math.fround(0.8) || Math.abs(b.csts[o + 2]) > Math.fround(0.8)
        ) throw new Error("deta/dphi not clipped");
        const id = b.ids![j * 128 + k];
        if ((id === 0 || id === 2) && (b.csts[o + 3] !== 0 || b.csts[o + 4] !== 0)) {
          throw new Error("neutral with IP");
        }
      } else if (b.csts[o] !== 0 || b.valid[j * 128 + k] !== 0) throw new Error("padding not zero");
    }
  }
});

Deno.test("synth classes have their physics: mass peaks, prongs, displaced tracks in b/c jets", () => {
  const b = synthJetClass(6000, { seed: 3 });
  const mass: number[][] = JETCLASS_LABELS.map(() => []),
    sig: number[][] = JETCLASS_LABELS.map(() => []);
  for (let j = 0; j < b.n; j++) {
    const l = b.labels![j];
    mass[l].push(b.jets![j * 5 + 3]);
    // Mean of the 3 largest d0 significances among charged tracks.
    const s: number[] = [];
    for (let k = 0; k < 128; k++) {
      const o = (j * 128 + k) * 7;
      if (b.valid[j * 128 + k] && b.csts[o + 4] > 0) s.push(b.csts[o + 3] / b.csts[o + 4]);
    }
    s.sort((x, y) => y - x);
    sig[l].push((s[0] + s[1] + s[2]) / 3);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const m = mass.map(med), d = sig.map(med);
  console.log(
    "median mass by class:",
    JETCLASS_LABELS.map((n, i) => `${n} ${m[i].toFixed(0)}`).join(", "),
  );
  const within = (l: number, lo: number, hi: number) => {
    if (!(m[l] > lo && m[l] < hi)) {
      throw new Error(`${JETCLASS_LABELS[l]} median mass ${m[l]} not in (${lo}, ${hi})`);
    }
  };
  within(3, 70, 95); // W
  within(4, 80, 105); // Z
  within(5, 110, 140); // H -> bb
  within(2, 155, 200); // top
  if (!(m[0] < m[3])) throw new Error("QCD should be lighter than W");
  for (const hf of [5, 6, 2]) {
    if (!(d[hf] > 2 * d[0])) {
      throw new Error(
        `${JETCLASS_LABELS[hf]}: displaced-track significance ${d[hf]} vs QCD ${d[0]}`,
      );
    }
  }
});

Deno.test("synth BTag vertices follow the decay chain (b -> c cascade gives two secondaries)", () => {
  const b = synthBTag(3000, { seed: 4 });
  let bTwo = 0, nb = 0;
  for (let j = 0; j < b.n; j++) {
    const label = b.labels![j];
    const types = new Set<number>(), vtx = new Set<number>();
    for (let k = 0; k < 15; k++) {
      const i = j * 15 + k, t = b.trackType![i];
      if (!b.valid[i]) {
        if (t !== -1) throw new Error("padded track type must be -1");
        continue;
      }
      types.add(t);
      vtx.add(b.vtxId![i]);
      if ((t === 0) !== (b.vtxId![i] === 0)) {
        throw new Error(`jet ${j}: track type ${t} with vertex ${b.vtxId![i]}`);
      }
    }
    if (label === 0 && (types.has(1) || types.has(2))) {
      throw new Error(`light jet ${j} with heavy-flavour tracks`);
    }
    if (label === 1 && types.has(2)) throw new Error(`charm jet ${j} with a b-hadron track`);
    if (label === 2) {
      nb++;
      if (types.has(1) && types.has(2)) bTwo++;
    }
  }
  if (bTwo / nb < 0.5) throw new Error(`only ${bTwo}/${nb} b jets show the b -> c cascade`);
});

Deno.test("synth classes are separable, but not trivially, by jet mass and multiplicity", () => {
  // A histogram Bayes classifier on (mass, multiplicity): 20 x 20 bins, trained and tested on
  // disjoint jets.
  const train = synthJetClass(20000, { seed: 7 }), test = synthJetClass(10000, { seed: 8 });
  const bin = (b: typeof train, j: number) =>
    Math.min(19, Math.floor(b.jets![j * 5 + 3] / 15)) * 20 +
    Math.min(19, Math.floor(b.jets![j * 5 + 4] / 5));
  const counts = Array.from({ length: 400 }, () => new Float64Array(10).fill(0.1));
  for (let j = 0; j < train.n; j++) counts[bin(train, j)][train.labels![j]]++;
  let ok = 0;
  for (let j = 0; j < test.n; j++) {
    const c = counts[bin(test, j)];
    if (c.indexOf(Math.max(...c)) === test.labels![j]) ok++;
  }
  const acc = ok / test.n;
  console.log(
    `mass + multiplicity histogram classifier: ${
      (100 * acc).toFixed(1)
    } % (10 classes, chance 10 %)`,
  );
  if (!(acc > 0.2 && acc < 0.8)) throw new Error(`accuracy ${acc} outside (0.2, 0.8)`);
});
