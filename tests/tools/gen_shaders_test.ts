// The shipped shader module (src/_shaders.gen.ts) must equal shaders/*.wgsl.
import { SHADERS } from "../../src/_shaders.gen.ts";
import { renderShaderModule } from "../../tools/gen_shaders.ts";

Deno.test("src/_shaders.gen.ts is generated from the current shaders/*.wgsl", async () => {
  const root = new URL("../../", import.meta.url);
  const sources: Record<string, string> = {};
  for await (const e of Deno.readDir(new URL("shaders/", root))) {
    if (e.name.endsWith(".wgsl")) {
      sources[e.name.slice(0, -5)] = await Deno.readTextFile(new URL(`shaders/${e.name}`, root));
    }
  }
  const current = await Deno.readTextFile(new URL("src/_shaders.gen.ts", root));
  if (current !== renderShaderModule(sources)) {
    throw new Error("stale: run `deno task gen:shaders`");
  }
  if (Object.keys(SHADERS).length !== Object.keys(sources).length) {
    throw new Error("shader count differs");
  }
});
