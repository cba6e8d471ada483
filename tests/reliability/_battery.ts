// Helpers of the bad-input battery: run a command in a folder, and check that it failed with a
// message naming the thing and the fix, printed no stack trace, and changed nothing there.
const root = new URL("../../", import.meta.url).pathname;

/** What a command printed and how it ended. */
export interface Ran {
  code: number;
  out: string;
  err: string;
}

/** Runs `deno run -A tasks/<task>.ts args...` (or `bench/bench.ts`) in `cwd`. */
export async function runTask(
  cwd: string,
  task: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Ran> {
  const script = task === "bench" ? `${root}bench/bench.ts` : `${root}tasks/${task}.ts`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** SHA-256 of every file under `dir` (relative paths), and the set of folders. */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string, rel: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`, r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) {
        out.set(`${r}/`, "dir");
        await walk(p, r);
      } else if (e.isFile) {
        const h = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(p)));
        out.set(r, [...h].map((b) => b.toString(16).padStart(2, "0")).join(""));
      }
    }
  };
  await walk(dir, "");
  return out;
}

/** The differences between two snapshots, as readable lines. */
export function diff(a: Map<string, string>, b: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [k, v] of a) {
    if (!b.has(k)) lines.push(`removed ${k}`);
    else if (b.get(k) !== v) lines.push(`changed ${k}`);
  }
  for (const k of b.keys()) if (!a.has(k)) lines.push(`added ${k}`);
  return lines;
}

/** One bad-input case. */
export interface Case {
  /** What is wrong (the test prints it when the case fails). */
  name: string;
  /** Command (`pretrain`, `data`, `bench`, ...). */
  task: string;
  /** Arguments. */
  args: string[];
  /** Expected exit status: 2 for a bad command line, 1 for a refused input. */
  code: 1 | 2;
  /** Every string must appear in stderr: the thing named and the fix. */
  says: string[];
  /** Extra environment. */
  env?: Record<string, string>;
}

/**
 * Runs each case in `cwd` and checks: the exit status, every expected phrase, no stack trace,
 * a message of a few lines, and a folder exactly as before (checksums).
 */
export async function battery(cwd: string, cases: readonly Case[]): Promise<void> {
  const failures: string[] = [];
  for (const c of cases) {
    const before = await snapshot(cwd);
    const r = await runTask(cwd, c.task, c.args, c.env);
    const after = await snapshot(cwd);
    const problems: string[] = [];
    if (r.code !== c.code) problems.push(`exit ${r.code}, expected ${c.code}`);
    for (const s of c.says) if (!r.err.includes(s)) problems.push(`stderr lacks "${s}"`);
    if (/\n\s+at (file:|async |Object\.|new )/.test(r.err)) problems.push("prints a stack trace");
    if (r.err.includes("HDF5-DIAG")) problems.push("prints the HDF5 C diagnostics");
    const errLines = r.err.trim().split("\n").filter((l) => l.startsWith("error:"));
    if (errLines.length !== 1) problems.push(`${errLines.length} error lines`);
    const changed = diff(before, after);
    if (changed.length) problems.push(`changed the folder: ${changed.slice(0, 4).join(", ")}`);
    if (problems.length) {
      failures.push(
        `- ${c.name} (${c.task} ${c.args.join(" ")}): ${problems.join("; ")}\n    stderr: ${
          r.err.trim().split("\n").slice(-3).join(" | ")
        }`,
      );
    }
  }
  if (failures.length) {
    throw new Error(`${failures.length} of ${cases.length} cases failed:\n${failures.join("\n")}`);
  }
}
