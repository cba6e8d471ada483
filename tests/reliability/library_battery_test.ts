// The library's guards: wrong dtypes, shapes, plain arrays, disposed tensors, inconsistent
// weight files and label spaces fail with a typed error naming the operation and the operands.
import * as ops from "../../src/autograd/ops.ts";
import { ParameterStore } from "../../src/autograd/parameters.ts";
import { Tape } from "../../src/autograd/tape.ts";
import { WeightsError } from "../../src/autograd/weights.ts";
import { DataError } from "../../src/data/errors.ts";
import { writeJetFile } from "../../src/data/hdf5.ts";
import { labelSummary } from "../../src/data/labels.ts";
import { JetLoader } from "../../src/data/loader.ts";
import { QuantileTransform } from "../../src/data/preprocess.ts";
import { synthJetClass } from "../../src/data/synth.ts";
import { ShapeError } from "../../src/gpu/errors.ts";
import { mul } from "../../src/kernels/elementwise.ts";
import { Backbone } from "../../src/mpm/backbone.ts";
import { preset } from "../../src/mpm/config.ts";
import { fitKMeans } from "../../src/mpm/kmeans.ts";
import { InitRng } from "../../src/nn/init.ts";
import { decodeSafetensors, encodeSafetensors } from "../../src/io/safetensors.ts";
import { testGpu } from "../_helpers/mod.ts";

const gpu = await testGpu();
const tmp = await Deno.makeTempDir();

function fails(
  f: () => unknown,
  type: abstract new (...a: never[]) => Error,
  ...want: string[]
): void {
  let err: unknown = null;
  try {
    f();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof type)) throw new Error(`expected ${type.name}, got ${err}`);
  for (const w of want) {
    if (!(err as Error).message.includes(w)) {
      throw new Error(`"${(err as Error).message}" lacks "${w}"`);
    }
  }
}

async function failsAsync(
  f: () => Promise<unknown>,
  type: abstract new (...a: never[]) => Error,
  ...want: string[]
): Promise<void> {
  let err: unknown = null;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof type)) throw new Error(`expected ${type.name}, got ${err}`);
  for (const w of want) {
    if (!(err as Error).message.includes(w)) {
      throw new Error(`"${(err as Error).message}" lacks "${w}"`);
    }
  }
}

Deno.test("library: an i32 tensor in an f32 kernel is refused, naming the shader, the binding and the dtypes", () => {
  const a = gpu.upload(new Int32Array([1, 2, 3]));
  const b = gpu.upload(new Float32Array([1, 2, 3]));
  fails(() => mul(a, b), ShapeError, "elementwise.mul", "must be a f32 tensor, got i32");
  const tape = new Tape(gpu);
  fails(() => ops.add(tape, b, a), ShapeError, "got i32");
  tape.dispose();
  a.dispose();
  b.dispose();
  gpu.submit();
});

Deno.test("library: elementwise ops need equal shapes, broadcasts a matching last axis", () => {
  const x = gpu.upload(new Float32Array(6), [2, 3]), y = gpu.upload(new Float32Array(6), [3, 2]);
  const tape = new Tape(gpu);
  fails(() => ops.add(tape, x, y), ShapeError, "add", "[2,3]", "[3,2]", "same shape");
  fails(() => ops.absDiff(tape, x, y), ShapeError, "absDiff");
  fails(
    () => ops.addRow(tape, x, gpu.upload(new Float32Array(2))),
    ShapeError,
    "addRow",
    "one value per channel",
  );
  tape.dispose();
  x.dispose();
  y.dispose();
  gpu.submit();
});

Deno.test("library: shapes must be non-negative integers; uploads must be typed arrays", () => {
  fails(() => gpu.empty([2, -1]), ShapeError, "[2,-1]", "non-negative integer");
  fails(() => gpu.empty([2.5]), ShapeError, "2.5");
  fails(
    () => gpu.upload([1, 2, 3] as unknown as Float32Array),
    TypeError,
    "a plain array",
    "new Float32Array",
  );
  fails(
    () => gpu.upload(new Float64Array(3) as unknown as Float32Array),
    TypeError,
    "Float64Array",
  );
  fails(() => gpu.upload(new Float32Array(5), [2, 2]), RangeError, "do not fill shape [2,2]");
});

Deno.test("library: a disposed tensor, or a view of one, cannot be used", async () => {
  const x = gpu.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
  const v = x.reshape([4]), w = x.view([2], 2);
  x.dispose();
  const y = gpu.upload(new Float32Array(4));
  fails(() => mul(v, y), Error, "disposed");
  fails(() => mul(w, gpu.upload(new Float32Array(2))), Error, "disposed");
  fails(() => gpu.write(x, new Float32Array(4)), Error, "disposed");
  await failsAsync(() => x.read(), Error, "disposed");
  y.dispose();
  gpu.submit();
});

Deno.test("library: a backbone whose metadata names fewer layers than its tensors is refused", async () => {
  const store = new ParameterStore(gpu);
  const cfg = preset("small");
  const info = {
    encoder: { ...cfg.encoder, layers: 2 },
    features: cfg.features,
    useIds: true,
    maxParticles: 128,
    preprocessor: QuantileTransform.fit([synthJetClass(50, { seed: 1 })], { levels: 20 }),
  };
  const bb = Backbone.build(store, info, new InitRng(1));
  store.finalize();
  await bb.save(`${tmp}/bb.safetensors`);
  const f = decodeSafetensors(await Deno.readFile(`${tmp}/bb.safetensors`));
  f.metadata.encoder = JSON.stringify({ ...info.encoder, layers: 1 });
  await Deno.writeFile(`${tmp}/bb1.safetensors`, encodeSafetensors(f.tensors, f.metadata));
  await failsAsync(
    () => Backbone.load(gpu, `${tmp}/bb1.safetensors`),
    WeightsError,
    "bb1.safetensors",
    "encoder.layers.1",
    "does not have",
  );
  const ok = await Backbone.load(gpu, `${tmp}/bb.safetensors`);
  if (ok.info.encoder.layers !== 2) throw new Error("the consistent file loads");
});

Deno.test("library: K-Means runs until the inertia stops improving (not one iteration)", async () => {
  // Three clear clusters, poorly initialised at random points: several iterations are needed.
  const pts: number[] = [];
  for (let i = 0; i < 300; i++) {
    const c = i % 3, r = (Math.sin(i * 12.9898) * 43758.5453) % 1;
    pts.push(c * 5 + r * 0.5, -c * 3 + r * 0.3);
  }
  const res = await fitKMeans(gpu, Float32Array.from(pts), 2, {
    k: 3,
    init: "random",
    seed: 2,
    maxIter: 50,
    tol: 1e-6,
  });
  if (!(res.iters > 1 && res.iters < 50)) throw new Error(`${res.iters} iterations`);
});

Deno.test("library: labels are checked against the classes of every file", () => {
  const a = synthJetClass(50, { seed: 1 }), b = synthJetClass(50, { seed: 2 });
  a.labels!.fill(0);
  b.labels!.fill(5);
  writeJetFile(`${tmp}/a.h5`, a);
  writeJetFile(`${tmp}/b.h5`, b);
  const s = labelSummary([`${tmp}/a.h5`, `${tmp}/b.h5`]);
  if (s?.classes !== 6 || s.counts[0] !== 50 || s.counts[5] !== 50) {
    throw new Error(JSON.stringify(s));
  }
  fails(
    () => labelSummary([`${tmp}/a.h5`, `${tmp}/b.h5`], { classes: 4 }),
    DataError,
    "b.h5",
    "row 0",
    "label 5",
    "--classes",
  );
  const loader = new JetLoader({ files: [`${tmp}/b.h5`], batchSize: 8, classes: 3 });
  fails(() => loader.next(), DataError, "b.h5", "labels", "outside 0..2");
  loader.close();
});
