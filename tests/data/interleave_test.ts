// Per-process files (one class each): every batch mixes classes in proportion to the files'
// sizes, the schedule resumes mid-epoch exactly, and `data combine` writes that stream.
import { writeJetFile } from "../../src/data/hdf5.ts";
import { Interleave } from "../../src/data/interleave.ts";
import { JetLoader } from "../../src/data/loader.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { JetFileReader } from "../../src/data/hdf5.ts";

const tmp = await Deno.makeTempDir({ prefix: "mpm-interleave-" });
const sizes = [300, 150, 420, 90, 200, 260, 130, 310, 80, 240];
const files = sizes.map((n, c) => {
  const path = `${tmp}/class${c}.h5`;
  writeJetFile(path, synthJetClass(n, { seed: 20 + c, classes: [c] }));
  return path;
});
const total = sizes.reduce((a, b) => a + b, 0);

Deno.test("interleave: every batch of 64 from ten one-class files holds several classes; epoch fractions match the files", () => {
  const l = new JetLoader({ files, batchSize: 64, seed: 4, loop: false });
  const counts = new Array(10).fill(0);
  let batches = 0;
  for (let b = l.next(); b; b = l.next(), batches++) {
    const classes = new Set(b.labels!);
    if (b.size === 64 && classes.size < 5) {
      throw new Error(`batch ${batches}: only classes ${[...classes]}`);
    }
    for (const y of b.labels!) counts[y]++;
  }
  l.close();
  // An epoch holds every jet once: the class fractions are the files' sizes exactly.
  if (counts.join() !== sizes.join()) throw new Error(`epoch counts ${counts} vs sizes ${sizes}`);
});

Deno.test("interleave: any prefix of an epoch holds each file in proportion (within two jets)", () => {
  const s = new Interleave(sizes, 7, 0), seen = new Array(10).fill(0);
  for (let p = 1; p <= total; p++) {
    seen[s.next()![0]]++;
    for (let f = 0; f < 10; f++) {
      if (Math.abs(seen[f] - (sizes[f] * p) / total) > 2) {
        throw new Error(`after ${p}: file ${f} has ${seen[f]}`);
      }
    }
  }
  if (s.next() !== null) throw new Error("the epoch has an end");
  for (const p of [0, 1, 17, 999, 1234, total - 1, total]) {
    const a = new Interleave(sizes, 7, 3), b = new Interleave(sizes, 7, 3);
    for (let i = 0; i < p; i++) a.next();
    b.seek(p);
    if (a.counts.join() !== b.counts.join()) {
      throw new Error(`seek(${p}): ${b.counts} vs ${a.counts}`);
    }
  }
});

Deno.test("interleave: a loader resumed mid-epoch continues exactly", () => {
  const ids = (b: { raw: Float32Array; size: number }) =>
    Array.from({ length: b.size }, (_, j) => b.raw[j * 128 * 7]).join();
  const a = new JetLoader({ files, batchSize: 50, seed: 11, window: 600 });
  for (let k = 0; k < 13; k++) a.next();
  const state = a.state;
  const rest = Array.from({ length: 50 }, () => ids(a.next()!)); // crosses into epoch 2
  const b = new JetLoader({ files, batchSize: 50, seed: 11, window: 600 });
  b.restore(state);
  const again = Array.from({ length: 50 }, () => ids(b.next()!));
  if (again.join("|") !== rest.join("|")) throw new Error("the resumed stream differs");
  a.close();
  b.close();
});

Deno.test("data combine writes the interleaved stream: one shuffled file with every jet", async () => {
  const out = `${tmp}/combined.h5`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../tasks/data.ts", import.meta.url).pathname,
      "combine",
      ...files,
      "--out",
      out,
      "--seed",
      "5",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  const reader = JetFileReader.open(out);
  const combined = reader.read(0, reader.info.n);
  reader.close();
  const l = new JetLoader({ files, batchSize: 256, seed: 5, loop: false, dropLast: false });
  let row = 0;
  for (let b = l.next(); b; b = l.next()) {
    for (let j = 0; j < b.size; j++, row++) {
      if (combined.labels![row] !== b.labels![j]) throw new Error(`row ${row}: label differs`);
      for (let k = 0; k < 128 * 7; k++) {
        if (combined.csts[row * 128 * 7 + k] !== b.raw[j * 128 * 7 + k]) {
          throw new Error(`row ${row}: csts differ`);
        }
      }
    }
  }
  l.close();
  if (row !== total || combined.n !== total) {
    throw new Error(`${combined.n} rows, ${row} streamed, ${total} jets`);
  }
  const first = new Set(combined.labels!.subarray(0, 64));
  if (first.size < 5) throw new Error("the combined file is not mixed");
});
