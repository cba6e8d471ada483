// The weights module: one wording for every mismatch (file, tensor, shape, fix), strict or
// filtered loads, before and after finalize, and moments under renamed keys.
import { ParameterStore } from "../../src/autograd/parameters.ts";
import {
  collectWeights,
  loadWeights,
  readWeights,
  WeightsError,
  writeWeights,
} from "../../src/autograd/weights.ts";
import { testGpu } from "../_helpers/mod.ts";

const gpu = await testGpu();
const tmp = await Deno.makeTempDir();

function store(extra = false): ParameterStore {
  const s = new ParameterStore(gpu);
  s.create("encoder.w", [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]), "backbone");
  s.create("head.b", [2], Float32Array.from([7, 8]), "head");
  if (extra) s.create("encoder.layers.9.w", [1], new Float32Array(1), "backbone");
  return s;
}

async function rejects(p: Promise<unknown> | (() => unknown), ...want: string[]): Promise<void> {
  let msg = "";
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    if (!(e instanceof WeightsError)) throw e;
    msg = e.message;
  }
  for (const w of want) if (!msg.includes(w)) throw new Error(`"${msg}" lacks "${w}"`);
}

Deno.test("weights round-trip: a group written and read back, into a finalised store or as initial values", async () => {
  const a = store();
  a.finalize();
  await writeWeights(`${tmp}/bb.safetensors`, await collectWeights(a, { group: "backbone" }), {
    format: "test/1",
  });
  const file = await readWeights(`${tmp}/bb.safetensors`, { format: "test/1" });
  if (file.tensors.has("head.b") || file.tensors.get("encoder.w")!.shape.join() !== "2,3") {
    throw new Error("the selection and shapes are written");
  }
  const b = new ParameterStore(gpu);
  b.create("encoder.w", [2, 3], new Float32Array(6), "backbone");
  loadWeights(b, file); // before finalize: initial values
  b.finalize();
  const got = (await b.read()).get("encoder.w")!;
  if (got.join() !== "1,2,3,4,5,6") throw new Error(`got ${got}`);
});

Deno.test("weights errors name the file, the tensor, the shapes and the fix", async () => {
  const a = store();
  a.finalize();
  await writeWeights(`${tmp}/all.safetensors`, await collectWeights(a));
  const file = await readWeights(`${tmp}/all.safetensors`);
  const wrong = new ParameterStore(gpu);
  wrong.create("encoder.w", [3, 2], new Float32Array(6));
  await rejects(
    () => loadWeights(wrong, file),
    `${tmp}/all.safetensors`,
    `tensor "encoder.w"`,
    "has shape [2,3]; the model expects shape [3,2]",
  );
  const more = store(true);
  await rejects(
    () => loadWeights(more, file, { fix: "try again" }),
    `"encoder.layers.9.w" is missing`,
    "try again",
  );
  loadWeights(more, file, { missing: "keep" });
  const fewer = new ParameterStore(gpu);
  fewer.create("encoder.w", [2, 3], new Float32Array(6), "backbone");
  await rejects(() => loadWeights(fewer, file, { unused: "error" }), `"head.b"`, "does not have");
  await rejects(
    readWeights(`${tmp}/all.safetensors`, { format: "x/1", what: "backbone" }),
    "not an @mpm/webgpu backbone",
    "format tag",
  );
  await Deno.writeFile(`${tmp}/junk.safetensors`, new Uint8Array([1, 2, 3]));
  await rejects(
    readWeights(`${tmp}/junk.safetensors`, { fix: "use another" }),
    "junk.safetensors",
    "use another",
  );
  await rejects(readWeights(`${tmp}/none.safetensors`), "none.safetensors", "cannot be read");
});

Deno.test("weights: optimizer moments load under renamed keys after finalize only", async () => {
  const a = store();
  a.finalize();
  const m = await collectWeights(a, { rename: (n) => `${n}.exp_avg` });
  await writeWeights(`${tmp}/m.safetensors`, m);
  const file = await readWeights(`${tmp}/m.safetensors`);
  const b = store();
  let early = "";
  try {
    loadWeights(b, file, { kind: "m", rename: (n) => `${n}.exp_avg` });
  } catch (e) {
    early = (e as Error).message;
  }
  if (!early.includes("after store.finalize()")) throw new Error(early);
  b.finalize();
  loadWeights(b, file, { kind: "m", rename: (n) => `${n}.exp_avg` });
  if ((await b.read("m")).get("head.b")!.join() !== "7,8") throw new Error("moments not loaded");
});
