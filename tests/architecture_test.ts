// The shape of src/: layers that never import upwards, functions and files of a readable size,
// one module that turns safetensors into parameters, HDF5 only through src/data/.
const root = new URL("../", import.meta.url).pathname;

/** Every .ts file under `dir` (relative to the repository), generated files excluded. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(`${root}${d}`)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".gen.ts")) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** Rank of each layer: a file may import its own layer or a lower one, never a higher one. */
const RANK: Record<string, number> = {
  io: 0,
  gpu: 1,
  data: 1,
  eval: 1,
  kernels: 2,
  autograd: 3,
  nn: 4,
  optim: 5,
  mpm: 5,
  heads: 5,
  train: 6,
};

function layerOf(path: string): string | null {
  const m = path.match(/^src\/([a-z]+)\//);
  return m ? m[1] : null;
}

function importsOf(text: string): string[] {
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+"([^"]+)"/g)].map((m) => m[1])
    .concat([...text.matchAll(/import\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]));
}

function resolve(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const s of spec.split("/")) {
    if (s === "..") parts.pop();
    else if (s !== ".") parts.push(s);
  }
  return parts.join("/");
}

Deno.test("no import in src/ climbs the layer stack (io -> gpu/data/eval -> kernels -> autograd -> nn -> optim/mpm/heads -> train)", async () => {
  const bad: string[] = [];
  for (const f of await files("src")) {
    const own = layerOf(f);
    if (!own) continue;
    if (!(own in RANK)) bad.push(`${f}: layer "${own}" has no rank in this test`);
    for (const spec of importsOf(await Deno.readTextFile(`${root}${f}`))) {
      if (!spec.startsWith(".")) continue;
      const target = layerOf(resolve(f, spec));
      if (!target || target === own) continue;
      if (RANK[target] >= RANK[own]) bad.push(`${f} imports ${spec} (${own} -> ${target})`);
    }
  }
  if (bad.length) throw new Error(bad.join("\n"));
});

Deno.test("modules private by name (_file.ts) are imported only from their own folder and its subfolders", async () => {
  const bad: string[] = [];
  for (const f of [...await files("src"), ...await files("tasks"), ...await files("bench")]) {
    for (const spec of importsOf(await Deno.readTextFile(`${root}${f}`))) {
      const target = resolve(f, spec);
      const name = target.split("/").pop()!;
      if (!name.startsWith("_") || name.endsWith(".gen.ts") || !target.startsWith("src/")) continue;
      const dir = target.split("/").slice(0, -1).join("/");
      const fromDir = f.split("/").slice(0, -1).join("/");
      if (fromDir !== dir && !fromDir.startsWith(`${dir}/`)) {
        bad.push(`${f} imports private ${target}`);
      }
    }
  }
  if (bad.length) throw new Error(bad.join("\n"));
});

/** Functions longer than `max` lines (brace matching; strings and comments stripped). */
function longFunctions(text: string, max: number): { line: number; name: string; n: number }[] {
  const head =
    /^\s*(export\s+)?(default\s+)?(async\s+)?(function\s*\*?\s*\w+|(static\s+|private\s+|public\s+|protected\s+|readonly\s+|async\s+|get\s+|set\s+)*#?\w+\s*(<[^>]*>)?\s*\()/;
  const lines = text.split("\n"), out: { line: number; name: string; n: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!head.test(lines[i]) || /^\s*(if|for|while|switch|catch|return|else)\b/.test(lines[i])) {
      continue;
    }
    let depth = 0, started = false, j = i;
    for (; j < lines.length; j++) {
      const s = lines[j].replace(/("[^"]*"|'[^']*'|`[^`]*`)/g, "").replace(/\/\/.*$/, "");
      for (const ch of s) {
        if (ch === "{") (depth++, started = true);
        else if (ch === "}") depth--;
      }
      if (started && depth <= 0) break;
      if (!started && s.trimEnd().endsWith(";")) break;
    }
    if (started && j - i + 1 > max) out.push({ line: i + 1, name: lines[i].trim(), n: j - i + 1 });
  }
  return out;
}

Deno.test("no function in src/ is longer than 120 lines and no file longer than 500", async () => {
  const bad: string[] = [];
  for (const f of await files("src")) {
    const text = await Deno.readTextFile(`${root}${f}`);
    const n = text.split("\n").length;
    if (n > 500) bad.push(`${f}: ${n} lines`);
    for (const l of longFunctions(text, 120)) bad.push(`${f}:${l.line}: ${l.n} lines: ${l.name}`);
  }
  if (bad.length) throw new Error(bad.join("\n"));
  // The scan itself finds a long function.
  const long = `function f() {\n${"  x++;\n".repeat(130)}}\n`;
  if (longFunctions(long, 120).length !== 1) throw new Error("the length scan is broken");
});

Deno.test("only the weights module turns safetensors into parameters; HDF5 is read and written only in src/data/", async () => {
  const bad: string[] = [];
  for (const f of [...await files("src"), ...await files("tasks")]) {
    const text = await Deno.readTextFile(`${root}${f}`);
    const code = text.replace(/^\s*(\*|\/\/).*$/gm, "");
    if (
      /\bdecodeSafetensors\(/.test(code) &&
      !["src/autograd/weights.ts", "src/io/safetensors.ts"].includes(f)
    ) bad.push(`${f} decodes safetensors itself (use readWeights/loadWeights)`);
    if (/from\s+"h5wasm"/.test(text) && !f.startsWith("src/data/")) {
      bad.push(`${f} imports h5wasm (go through src/data/)`);
    }
    if (/\bDeno\.rename\(/.test(code) && !f.startsWith("src/io/") && !f.startsWith("src/data/")) {
      bad.push(`${f} renames files itself (use writeAtomic from src/io/files.ts)`);
    }
  }
  if (bad.length) throw new Error(bad.join("\n"));
});
