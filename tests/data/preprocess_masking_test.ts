// Preprocessing (quantile-normal, standardisation) and masking utilities.
import { randomMasking, uniformMasking } from "../../src/data/masking.ts";
import {
  loadPreprocessor,
  QUANTILE_CLIP,
  QuantileTransform,
  savePreprocessor,
  Standardization,
} from "../../src/data/preprocess.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { assertClose } from "../_helpers/mod.ts";

Deno.test("quantile transform matches scikit-learn semantics on a hand-made table", () => {
  // Quantiles of one feature at levels 0, 0.25, 0.5, 0.75, 1 with a repeated value (1, 1).
  const qt = new QuantileTransform(["pt"], [[0, 1, 1, 2, 4]], false);
  // Two-sided interpolation: x = 1 sits between levels 0.25 and 0.5 -> u = 0.375.
  assertClose([qt.map(0, 1)], [-0.3186393639643752], { atol: 1e-6 });
  assertClose([qt.map(0, 3)], [1.1503493803760079], { atol: 1e-6 }); // u = 0.875
  assertClose([qt.map(0, -5), qt.map(0, 100)], [-QUANTILE_CLIP, QUANTILE_CLIP], { atol: 0 });
  assertClose([qt.inverse(0, qt.map(0, 1.5))], [1.5], { atol: 1e-6 });
});

Deno.test("quantile transform fitted on jets gives ~N(0, 1) features; neutral IP columns are noise", () => {
  const qt = QuantileTransform.fit([synthJetClass(2000, { seed: 1 })]);
  const b = synthJetClass(1000, { seed: 2 });
  const x = qt.transform(b, { seed: 3 });
  for (let c = 0; c < 7; c++) {
    let s = 0, s2 = 0, n = 0;
    for (let i = 0; i < b.n * 128; i++) {
      if (!b.valid[i]) continue;
      s += x[i * 7 + c];
      s2 += x[i * 7 + c] ** 2;
      n++;
    }
    const m = s / n, v = s2 / n - m * m;
    if (Math.abs(m) > 0.1 || Math.abs(v - 1) > 0.15) {
      throw new Error(`feature ${c}: mean ${m}, var ${v}`);
    }
  }
  // Same seed -> same noise; padded slots zero.
  const y = qt.transform(b, { seed: 3 });
  if (!x.every((v, i) => v === y[i])) throw new Error("noise not reproducible");
  for (let i = 0; i < b.n * 128; i++) {
    if (!b.valid[i] && x[i * 7] !== 0) throw new Error("padding changed");
  }
});

Deno.test("preprocessors save to and load from JSON", async () => {
  const dir = await Deno.makeTempDir();
  const qt = QuantileTransform.fit([synthJetClass(300, { seed: 4 })], { levels: 100 });
  await savePreprocessor(`${dir}/qt.json`, qt);
  const back = await loadPreprocessor(`${dir}/qt.json`);
  const b = synthJetClass(20, { seed: 5 });
  assertClose(back.transform(b, { seed: 1 }), qt.transform(b, { seed: 1 }), { atol: 0 });
  const st = Standardization.fit([b]);
  await savePreprocessor(`${dir}/st.json`, st);
  assertClose((await loadPreprocessor(`${dir}/st.json`)).transform(b), st.transform(b), {
    atol: 0,
  });
});

Deno.test("random masking drops floor(0.4 n) real particles per jet with pT ranks; reproducible", () => {
  const b = synthJetClass(50, { seed: 6 });
  const m = randomMasking(b.valid, 50, 128, { seed: 7, jetIndex: 100, pt: b.csts, ptStride: 7 });
  for (let j = 0; j < 50; j++) {
    let n = 0, d = 0;
    const ranked: [number, number][] = [];
    for (let k = 0; k < 128; k++) {
      const i = j * 128 + k;
      n += b.valid[i];
      if (m.dropped[i]) {
        if (!b.valid[i]) throw new Error("dropped a padded slot");
        d++;
        ranked.push([m.rank[i], b.csts[i * 7]]);
      } else if (m.rank[i] !== -1) throw new Error("rank on a kept particle");
    }
    if (d !== Math.floor(0.4 * n) || m.count[j] !== d) {
      throw new Error(`jet ${j}: dropped ${d} of ${n}`);
    }
    ranked.sort((x, y) => x[0] - y[0]);
    ranked.forEach(([r, pt], k) => {
      if (r !== k || (k > 0 && pt > ranked[k - 1][1])) {
        throw new Error(`jet ${j}: ranks not by decreasing pT`);
      }
    });
  }
  const again = randomMasking(b.valid, 50, 128, {
    seed: 7,
    jetIndex: 100,
    pt: b.csts,
    ptStride: 7,
  });
  if (!again.dropped.every((v, i) => v === m.dropped[i])) throw new Error("not reproducible");
  // Jet i of a batch starting at jetIndex 100 equals jet 0 of a batch starting at 100 + i.
  const one = randomMasking(b.valid.subarray(3 * 128, 4 * 128), 1, 128, { seed: 7, jetIndex: 103 });
  if (!one.dropped.every((v, k) => v === m.dropped[3 * 128 + k])) {
    throw new Error("per-jet streams differ");
  }
  const single = randomMasking(new Uint8Array([1, 0, 0]), 1, 3, { seed: 1 });
  if (single.count[0] !== 0) throw new Error("a one-particle jet must drop nothing");
});

Deno.test("uniform masking draws the dropped count in [ceil(min n), floor(max n)]", () => {
  const valid = new Uint8Array(200 * 20).fill(1);
  const m = uniformMasking(valid, 200, 20, { seed: 8, min: 0.1, max: 0.8 });
  const counts = new Set<number>();
  for (let j = 0; j < 200; j++) {
    if (m.count[j] < 2 || m.count[j] > 16) throw new Error(`count ${m.count[j]}`);
    counts.add(m.count[j]);
  }
  if (counts.size < 10) throw new Error("counts not spread over the range");
});
