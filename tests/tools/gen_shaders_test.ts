// The shipped shader module (src/_shaders.gen.ts) must equal shaders/*.wgsl with the prelude, and
// every shader's bindings must agree with its signature in src/kernels/specs.ts.
import { FLAT_WORKGROUP_SIZE, SHADERS } from "../../src/_shaders.gen.ts";
import {
  checkSignatures,
  declaredBindings,
  readSources,
  renderShaderModule,
  SHADER_PRELUDE,
} from "../../tools/gen_shaders.ts";
import { grid1d } from "../../src/kernels/_util.ts";

const dir = new URL("../../shaders/", import.meta.url).pathname;

Deno.test("src/_shaders.gen.ts is generated from the current shaders/*.wgsl", async () => {
  const sources = await readSources(dir);
  const current = await Deno.readTextFile(new URL("../../src/_shaders.gen.ts", import.meta.url));
  if (current !== renderShaderModule(sources)) {
    throw new Error("stale: run `deno task gen:shaders`");
  }
  if (Object.keys(SHADERS).length !== Object.keys(sources).length) {
    throw new Error("shader count differs");
  }
});

Deno.test("every shader carries the shared prelude (after its enable directives), and grid1d folds with the same workgroup size", () => {
  for (const [name, full] of Object.entries(SHADERS)) {
    const text = full.replace(/^(\s*enable [^;]+;\s*)+/, "");
    if (!text.startsWith(SHADER_PRELUDE)) throw new Error(`${name}: no prelude`);
    if (/enable /.test(text)) throw new Error(`${name}: an enable directive after the prelude`);
    if (/gid\.y \* nwg\.x \* 64u/.test(text.slice(SHADER_PRELUDE.length))) {
      throw new Error(`${name}: hand-written flat-index fold (use flat_index from the prelude)`);
    }
  }
  if (!SHADER_PRELUDE.includes(`${FLAT_WORKGROUP_SIZE}u`)) throw new Error("prelude constant");
  const [x, y] = grid1d(FLAT_WORKGROUP_SIZE * 70000, 65535);
  if (x * y * FLAT_WORKGROUP_SIZE < FLAT_WORKGROUP_SIZE * 70000 || y !== 2) {
    throw new Error(`grid1d ${x}x${y}`);
  }
});

Deno.test("every shader's bindings agree with its spec, and a disagreement is reported", async () => {
  const sources = await readSources(dir);
  const problems = checkSignatures(sources);
  if (problems.length) throw new Error(problems.join("\n"));
  const bad = checkSignatures({
    elementwise: sources.elementwise.replace(
      "@group(0) @binding(4) var<storage, read_write> out",
      "@group(0) @binding(4) var<storage, read> out",
    ),
    orphan: "@group(0) @binding(0) var<uniform> p: P;",
  }, [{ shader: "elementwise", bindings: ["read", "read", "read", "rw"] }]);
  const text = bad.join("\n");
  if (
    !text.includes("binding 4 is read, its spec says rw") ||
    !text.includes("orphan.wgsl has no signature")
  ) {
    throw new Error(`not reported:\n${text}`);
  }
  const kinds = declaredBindings(sources.matmul_tex);
  if (
    kinds.get(4) !== "storage-texture" || kinds.get(5) !== "texture" || kinds.get(0) !== "uniform"
  ) {
    throw new Error(`texture bindings parsed as ${[...kinds]}`);
  }
});
