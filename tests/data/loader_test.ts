// The streaming loader: coverage, shuffling, splits, caps, resumption, feature checks, bad jets.
import { DataError } from "../../src/data/errors.ts";
import { writeJetFile } from "../../src/data/hdf5.ts";
import { JetLoader } from "../../src/data/loader.ts";
import { QuantileTransform } from "../../src/data/preprocess.ts";
import { synthBTag, synthJetClass } from "../../src/data/synth.ts";
import { KINEMATIC_FEATURES, selectFeatures } from "../../src/data/types.ts";

const tmp = await Deno.makeTempDir({ prefix: "mpm-loader-" });
// Two files; the jet's pT of slot 0 identifies it (continuous, so unique).
writeJetFile(`${tmp}/a.h5`, synthJetClass(130, { seed: 1 }));
writeJetFile(`${tmp}/b.h5`, synthJetClass(77, { seed: 1, start: 130 }));
const files = [`${tmp}/a.h5`, `${tmp}/b.h5`];
const all = synthJetClass(207, { seed: 1 });
const idOf = new Map<number, number>();
for (let j = 0; j < all.n; j++) idOf.set(all.csts[j * 128 * 7], j);

function epochIds(loader: JetLoader, batches: number): number[] {
  const ids: number[] = [];
  for (let k = 0; k < batches; k++) {
    const b = loader.next()!;
    for (let j = 0; j < b.size; j++) ids.push(idOf.get(b.raw[j * 128 * 7])!);
  }
  return ids;
}

Deno.test("loader visits every jet of every file once per epoch, shuffled across windows", () => {
  const loader = new JetLoader({
    files,
    batchSize: 9,
    window: 50,
    seed: 3,
    loop: false,
    dropLast: false,
  });
  const ids = epochIds(loader, Math.ceil(207 / 9));
  if (loader.next() !== null) throw new Error("expected the end of the pass");
  if (new Set(ids).size !== 207 || ids.length !== 207) {
    throw new Error(`${new Set(ids).size} distinct of ${ids.length}`);
  }
  if (ids.every((v, i) => v === i)) throw new Error("not shuffled");
  loader.close();
});

Deno.test("loader epochs reshuffle; the same seed gives the same order", () => {
  const a = new JetLoader({ files, batchSize: 10, window: 64, seed: 5 });
  const b = new JetLoader({ files, batchSize: 10, window: 64, seed: 5 });
  const e1 = epochIds(a, 20), e2 = epochIds(a, 20);
  if (e1.join() !== epochIds(b, 20).join()) throw new Error("same seed, different order");
  if (e1.join() === e2.join()) throw new Error("epoch 2 repeats epoch 1's order");
  a.close();
  b.close();
});

Deno.test("loader resumes exactly from a saved state", () => {
  const a = new JetLoader({ files, batchSize: 8, window: 40, seed: 9 });
  epochIds(a, 7);
  const state = a.state;
  const rest = epochIds(a, 40); // crosses an epoch boundary
  const b = new JetLoader({ files, batchSize: 8, window: 40, seed: 9 });
  b.restore(state);
  if (epochIds(b, 40).join() !== rest.join()) throw new Error("resumed stream differs");
  if (b.state.streamIndex !== a.state.streamIndex) throw new Error("stream index differs");
  a.close();
  b.close();
});

Deno.test("loader splits are disjoint, per file, and the cap takes n jets in proportion to the files and their classes", () => {
  const seen = new Set<number>();
  for (const split of ["train", "val", "test"] as const) {
    const l = new JetLoader({ files, batchSize: 1, split, shuffle: false, loop: false });
    for (const id of epochIds(l, l.length)) {
      if (seen.has(id)) throw new Error(`jet ${id} in two splits`);
      seen.add(id);
    }
    l.close();
  }
  if (seen.size !== 207) throw new Error(`splits cover ${seen.size} jets`);
  // Each file is split on its own: the train split holds 80 % of a (0..103) and of b (130..190).
  const train = new JetLoader({ files, batchSize: 1, split: "train", shuffle: false, loop: false });
  const trainIds = new Set(epochIds(train, train.length));
  train.close();
  if (train.length !== 104 + 61 || ![0, 103, 130, 190].every((i) => trainIds.has(i))) {
    throw new Error(`per-file train split: ${train.length} jets`);
  }
  const capped = new JetLoader({
    files,
    batchSize: 5,
    split: "train",
    maxJets: 25,
    shuffle: true,
    loop: false,
  });
  const ids = epochIds(capped, 5);
  const fromA = ids.filter((i) => i < 130).length;
  if (capped.length !== 25 || new Set(ids).size !== 25 || fromA !== 16) {
    throw new Error(`cap: ${capped.length} jets, ${fromA} from a (want 16 of 25): ${ids}`);
  }
  if (!ids.every((i) => trainIds.has(i))) throw new Error("the cap leaves the train split");
  // Within a file the cap keeps the class proportions of its split (largest remainder).
  const labelsA = all.labels!.subarray(0, 104);
  const share = (c: number, src: ArrayLike<number>) =>
    Array.from(src).filter((y) => y === c).length;
  for (let c = 0; c < 10; c++) {
    const want = (share(c, labelsA) * 16) / 104;
    const got = share(c, ids.filter((i) => i < 130).map((i) => all.labels![i]));
    if (Math.abs(got - want) > 1) throw new Error(`class ${c}: ${got} of 16, want about ${want}`);
  }
  capped.close();
});

Deno.test("loader selects the model's features and rejects missing ones with a clear message", () => {
  const kin = new JetLoader({ files, batchSize: 4, features: KINEMATIC_FEATURES });
  const b = kin.next()!;
  if (b.x.length !== 4 * 128 * 3) throw new Error("kinematics-only batch has the wrong width");
  kin.close();
  const src = synthJetClass(4, { seed: 2 });
  writeJetFile(`${tmp}/kin.h5`, selectFeatures(src, KINEMATIC_FEATURES, { dropIds: true }));
  try {
    new JetLoader({
      files: [`${tmp}/kin.h5`],
      batchSize: 2,
      features: ["pt", "deta", "dphi", "d0"],
    });
    throw new Error("expected a DataError");
  } catch (e) {
    if (!(e instanceof DataError) || !e.message.includes(`"d0"`) || !e.message.includes("kin.h5")) {
      throw e;
    }
  }
});

Deno.test("loader bad jets: NaN, empty jet, too many particles -> errors naming file and row, or counted skips", () => {
  const b = synthJetClass(20, { seed: 4 });
  b.csts[(3 * 128 + 2) * 7 + 1] = NaN; // jet 3
  b.valid.fill(0, 7 * 128, 8 * 128); // jet 7 empty
  writeJetFile(`${tmp}/bad.h5`, b);
  const expect = (opts: Partial<ConstructorParameters<typeof JetLoader>[0]>, needle: string) => {
    const l = new JetLoader({ files: [`${tmp}/bad.h5`], batchSize: 20, shuffle: false, ...opts });
    try {
      l.next();
      throw new Error("expected a DataError");
    } catch (e) {
      const file = (opts.files ?? [`${tmp}/bad.h5`])[0];
      if (!(e instanceof DataError) || !e.message.includes(needle) || !e.message.includes(file)) {
        throw e;
      }
    } finally {
      l.close();
    }
  };
  expect({}, "row 3");
  const skip = new JetLoader({
    files: [`${tmp}/bad.h5`],
    batchSize: 18,
    shuffle: false,
    onBadJet: "skip",
  });
  const batch = skip.next()!;
  if (
    batch.size !== 18 || skip.skipped["NaN/Inf feature"] !== 1 || skip.skipped["empty jet"] !== 1
  ) {
    throw new Error(`skip: size ${batch.size}, ${JSON.stringify(skip.skipped)}`);
  }
  skip.close();
  const small = synthJetClass(5, { seed: 5 });
  writeJetFile(`${tmp}/long.h5`, small);
  expect({ files: [`${tmp}/long.h5`], maxParticles: 10 }, "the model allows 10");
  const trunc = new JetLoader({
    files: [`${tmp}/long.h5`],
    batchSize: 5,
    maxParticles: 10,
    truncate: true,
  });
  if (trunc.next()!.nParticles !== 10) throw new Error("truncate");
  trunc.close();
});

Deno.test("loader applies a preprocessor and carries the BTag fields", () => {
  writeJetFile(`${tmp}/bt.h5`, synthBTag(50, { seed: 6 }));
  const qt = QuantileTransform.fit([synthBTag(200, { seed: 7 })], { levels: 50 });
  const l = new JetLoader({ files: [`${tmp}/bt.h5`], batchSize: 16, preprocessor: qt });
  const b = l.next()!;
  if (!b.vtxId || !b.trackType || !b.labels) throw new Error("BTag fields missing");
  for (let i = 0; i < b.size * 15; i++) {
    if (!b.valid[i] && b.x[i * 7] !== 0) throw new Error("padding not zero after preprocessing");
    if (b.valid[i] && Math.abs(b.x[i * 7]) > 5.2) throw new Error("not normalised");
  }
  l.close();
});

Deno.test("loader shares: 3 ranks' shares of each batch are the whole batch's rows (features, noise, labels, stream indices) and the loaders stay in step", () => {
  const qt = QuantileTransform.fit([synthJetClass(300, { seed: 8 })], { levels: 50 });
  const common = {
    files,
    batchSize: 12,
    window: 50,
    seed: 4,
    preprocessor: qt, // neutral-particle noise on: seeded per stream index
  };
  const whole = new JetLoader(common);
  const ranks = [0, 1, 2].map((rank) => new JetLoader({ ...common, share: { rank, ranks: 3 } }));
  // Run past the end of an epoch (207 jets: 17 batches of 12) and compare rows.
  for (let k = 0; k < 20; k++) {
    const b = whole.next()!;
    const parts = ranks.map((l) => l.next()!);
    if (parts.map((p) => p.size).join() !== "4,4,4") {
      throw new Error(`shares ${parts.map((p) => p.size)}`);
    }
    let row = 0;
    for (const p of parts) {
      if (p.fullSize !== 12 || p.streamIndex !== b.streamIndex + row) {
        throw new Error(`batch ${k}: fullSize ${p.fullSize}, stream index ${p.streamIndex}`);
      }
      const per = 128 * 7;
      for (const key of ["x", "raw"] as const) {
        const want = b[key].subarray(row * per, (row + p.size) * per);
        if (p[key].some((v, i) => v !== want[i])) throw new Error(`batch ${k}: ${key} differs`);
      }
      const lab = b.labels!.subarray(row, row + p.size),
        fr = b.fileRow!.subarray(row, row + p.size);
      if (p.labels!.join() !== lab.join() || p.fileRow!.join() !== fr.join()) {
        throw new Error(`batch ${k}: labels or rows differ`);
      }
      row += p.size;
    }
    for (const l of ranks) {
      if (JSON.stringify(l.state) !== JSON.stringify(whole.state)) throw new Error("state drift");
    }
  }
  // A short last batch of a pass splits as evenly as it can: 207 = 20 x 10 + 7 -> 2, 2, 3.
  const pass = { ...common, batchSize: 10, loop: false, dropLast: false };
  const last = [0, 1, 2].map((rank) => {
    const l = new JetLoader({ ...pass, share: { rank, ranks: 3 } });
    let b = l.next(), prev = b;
    while (b) [prev, b] = [b, l.next()];
    l.close();
    return prev!.size;
  });
  if (last.join() !== "2,2,3") throw new Error(`last batch shares ${last}`);
  let msg = "";
  try {
    new JetLoader({ ...common, share: { rank: 3, ranks: 3 } });
  } catch (e) {
    msg = (e as Error).message;
  }
  if (!msg.includes("share rank 3 of 3")) throw new Error(`bad share accepted: ${msg}`);
  for (const l of [whole, ...ranks]) l.close();
});
