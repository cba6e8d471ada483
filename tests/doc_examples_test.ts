// Every runnable `@example` in src/ (a ```ts block not marked `ignore`) runs, with console.assert
// made to throw: an example whose assertion is false fails here instead of printing a warning
// nobody reads. The examples are gathered into one temporary test module (their
// `@mpm/webgpu/...` imports turned into imports of this checkout) run in a scratch folder.
const root = new URL("../", import.meta.url).pathname;

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${root}${dir}`)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await sources(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".gen.ts")) out.push(p);
  }
  return out.sort();
}

/** The runnable examples of a file: (line, code). */
function examples(text: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  for (const m of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const body = m[0].split("\n").map((l) => l.replace(/^\s*\/?\*+\/?\s?/, ""));
    for (let i = 0; i < body.length; i++) {
      if (!/^```(ts|typescript)\s*$/.test(body[i].trim())) continue;
      const start = i + 1;
      let j = start;
      while (j < body.length && !body[j].trim().startsWith("```")) j++;
      const line = text.slice(0, m.index).split("\n").length + start;
      out.push({ line, code: body.slice(start, j).join("\n") });
      i = j;
    }
  }
  return out;
}

/** `import { a, b as c, type T } from "@mpm/webgpu/x"` -> `const { a, b: c } = await import(...)`. */
function localImports(code: string): string {
  return code
    .replace(/^import\s+type\s[\s\S]*?;\s*$/gm, "")
    .replace(
      /^import\s*\{([\s\S]*?)\}\s*from\s*"@mpm\/webgpu(\/[a-z]+)?";\s*$/gm,
      (_, names: string, sub?: string) => {
        const list = names.split(",").map((n) => n.trim()).filter((n) =>
          n && !n.startsWith("type ")
        )
          .map((n) => n.replace(/\s+as\s+/, ": "));
        const target = sub ? `${root}src${sub}/mod.ts` : `${root}mod.ts`;
        return `const { ${list.join(", ")} } = await import(${JSON.stringify(target)});`;
      },
    );
}

Deno.test("every runnable @example in src/ runs and its console.assert holds", async () => {
  const cases: string[] = [];
  let count = 0;
  for (const f of await sources("src")) {
    for (const ex of examples(await Deno.readTextFile(`${root}${f}`))) {
      count++;
      const code = localImports(ex.code);
      cases.push(
        `Deno.test(${JSON.stringify(`${f}:${ex.line}`)}, async () => {\n${code}\n});`,
      );
    }
  }
  if (count < 50) throw new Error(`only ${count} examples found: the extraction is broken`);
  const dir = await Deno.makeTempDir({ prefix: "mpm-doc-examples-" });
  const header = `// deno-lint-ignore-file\nconsole.assert = (ok, ...msg) => {
  if (!ok) throw new Error("console.assert failed" + (msg.length ? ": " + msg.join(" ") : ""));
};\n`;
  await Deno.writeTextFile(`${dir}/examples_test.ts`, header + cases.join("\n\n"));
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--no-check", `--config=${root}deno.json`, "examples_test.ts"],
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  const ran = Number(/ok \| (\d+) passed/.exec(out)?.[1] ?? 0);
  if (r.success && ran !== count) {
    throw new Error(`${ran} of ${count} examples ran:\n${out.slice(-3000)}`);
  }
  if (!r.success) {
    const failed = [...new Set([...out.matchAll(/^(src\/\S+:\d+) => /gm)].map((m) => m[1]))];
    const errors = out.slice(out.indexOf(" ERRORS "), out.indexOf(" FAILURES ")).slice(0, 6000);
    throw new Error(`${failed.length} of ${count} examples fail: ${failed.join(", ")}\n${errors}`);
  }
  await Deno.remove(dir, { recursive: true });
});
