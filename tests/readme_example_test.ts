// The README's library example runs as printed, importing mod.ts with no permissions at all,
// and its loss falls.
const root = new URL("../", import.meta.url).pathname;

Deno.test("the README's training loop runs with no permissions and its L1 loss falls", async () => {
  const readme = await Deno.readTextFile(`${root}README.md`);
  const at = readme.indexOf("A training loop, top to bottom");
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (at < 0 || !block) throw new Error("README example not found");
  const dir = await Deno.makeTempDir({ prefix: "mpm-readme-example-" });
  await Deno.writeTextFile(
    `${dir}/example.ts`,
    block[1].replace(`from "./mod.ts"`, `from ${JSON.stringify(`${root}mod.ts`)}`),
  );
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", `--config=${root}deno.json`, `${dir}/example.ts`],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout), err = new TextDecoder().decode(r.stderr);
  if (!r.success) throw new Error(`the README example failed:\n${err}`);
  const l1 = [...out.matchAll(/L1 ([\d.]+)/g)].map((m) => Number(m[1]));
  if (l1.length !== 3 || !(l1[2] < l1[0])) throw new Error(`losses ${l1}:\n${out}`);
  await Deno.remove(dir, { recursive: true });
});
