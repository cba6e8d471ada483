/**
 * Runs the test suite as a few `deno test` processes (groups of folders under `tests/`) and
 * prints one closing summary in `deno test`'s own format (`ok | N passed | N failed (…)`).
 *
 * Why groups: on the CPU Vulkan driver a `deno test` process very occasionally dies on a signal
 * (SIGABRT, "corrupted size vs. prev_size in fastbins") while it exits, after every test in it
 * has passed: a teardown crash below this library (the runtime and the driver unloading), seen
 * once in CI after 391 passing tests and not reproducible on demand. A group whose process dies
 * on a signal *after* its summary reported every test passed is run once more, and both facts
 * are printed; a test that fails, a crash before the summary, or a second crash fails the run.
 * Failures are never retried. Groups keep that rerun to a few minutes instead of the whole
 * suite.
 *
 * Usage: `deno run --allow-read --allow-run --allow-env tools/run_tests.ts [ROOT]` (ROOT
 * defaults to `tests/`; `deno task test` runs it after the static checks).
 *
 * @module
 */

/** Permissions every test process gets (what `deno test` ran with before the groups). */
export const TEST_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-run"];

/**
 * Folders (under the test root) of each group, in run order; files in no listed folder form a
 * last group, so a new folder is never skipped. Each group runs in under 4 minutes here, which
 * bounds what a rerun costs.
 */
export const TEST_GROUPS: { name: string; folders: string[] }[] = [
  { name: "kernels", folders: ["kernels", "autograd", "gpu", "nn", "optim", "reference", "eval"] },
  { name: "data and train", folders: ["data", "train"] },
  { name: "mpm", folders: ["mpm"] },
  { name: "reliability", folders: ["reliability"] },
];

/** The counts of a `deno test` closing line. */
export interface TestSummary {
  ok: boolean;
  passed: number;
  failed: number;
  ignored: number;
}

/**
 * Reads the last closing line of `deno test` output (`ok | 4 passed | 0 failed (5ms)`, with
 * optional `(N steps)`, `| N ignored`, `| N filtered out`).
 *
 * @param output what the process printed on stdout
 * @returns the counts, or `null` when no closing line was printed
 * @example
 * ```ts
 * import { parseSummary } from "./run_tests.ts";
 * const s = parseSummary("ok | 3 passed | 0 failed | 1 ignored (12ms)\n");
 * if (s?.passed !== 3 || s.ignored !== 1) throw new Error("parse");
 * ```
 */
export function parseSummary(output: string): TestSummary | null {
  const lines = output.split("\n").filter((l) => /^(ok|FAILED) \| \d+ passed/.test(l));
  const line = lines.at(-1);
  if (!line) return null;
  const count = (what: string) => Number(line.match(new RegExp(`(\\d+) ${what}`))?.[1] ?? 0);
  return {
    ok: line.startsWith("ok"),
    passed: count("passed"),
    failed: count("failed"),
    ignored: count("ignored"),
  };
}

/** How a group's process ended, as {@linkcode judge} sees it. */
export interface GroupExit {
  code: number;
  signal: string | null;
  summary: TestSummary | null;
}

/**
 * Decides what a finished group means: `"ok"`, `"failed"` (a test failed, no summary, or an
 * exit code without a signal), or `"crashed-after-pass"` (the summary says every test passed and
 * the process then died on a signal: the one case that is run again).
 *
 * @param e the exit code, signal and parsed summary of the group's process
 * @returns the verdict
 * @example
 * ```ts
 * import { judge } from "./run_tests.ts";
 * const summary = { ok: true, passed: 9, failed: 0, ignored: 0 };
 * if (judge({ code: 134, signal: "SIGABRT", summary }) !== "crashed-after-pass") throw new Error();
 * if (judge({ code: 1, signal: null, summary }) !== "failed") throw new Error();
 * ```
 */
export function judge(e: GroupExit): "ok" | "failed" | "crashed-after-pass" {
  const allPassed = e.summary !== null && e.summary.ok && e.summary.failed === 0;
  if (e.code === 0 && e.signal === null) return allPassed ? "ok" : "failed";
  const bySignal = e.signal !== null || e.code > 128;
  return allPassed && bySignal ? "crashed-after-pass" : "failed";
}

/**
 * Every `*_test.ts` file under `root`, sorted, assigned to the groups of `groups` by its first
 * folder below `root` (files in no listed folder go to a last group named "other").
 *
 * @param root the test folder
 * @param groups the group definitions ({@linkcode TEST_GROUPS} by default)
 * @returns the non-empty groups with their files, in run order
 */
export async function collectGroups(
  root: string,
  groups: { name: string; folders: string[] }[] = TEST_GROUPS,
): Promise<{ name: string; files: string[] }[]> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory && !e.name.startsWith(".") && e.name !== "fixtures") await walk(p);
      else if (e.isFile && e.name.endsWith("_test.ts")) files.push(p);
    }
  };
  const base = root.replace(/\/+$/, "");
  await walk(base);
  files.sort();
  const out = groups.map((g) => ({ name: g.name, files: [] as string[] }));
  const other = { name: "other", files: [] as string[] };
  for (const f of files) {
    const first = f.slice(base.length + 1).split("/")[0];
    const i = groups.findIndex((g) => g.folders.includes(first));
    (i >= 0 ? out[i] : other).files.push(f);
  }
  return [...out, other].filter((g) => g.files.length > 0);
}

/** Runs one `deno test` process over `files`, echoing its output, and returns how it ended. */
async function runGroup(files: string[], command: string[], echo: boolean): Promise<GroupExit> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...command, ...files],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    for (let off = 0; echo && off < chunk.length;) {
      off += await Deno.stdout.write(chunk.subarray(off));
    }
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-65536);
  }
  const status = await child.status;
  return { code: status.code, signal: status.signal, summary: parseSummary(tail) };
}

/** What {@linkcode runTests} found, group by group. */
export interface RunReport {
  ok: boolean;
  passed: number;
  failed: number;
  ignored: number;
  /** One line per group that crashed after passing, saying what happened on the rerun. */
  notes: string[];
}

/**
 * Runs the groups one after another (see the module documentation for the one rerun) and prints
 * the closing summary.
 *
 * @param groups the groups and their files ({@linkcode collectGroups})
 * @param o `retries`: reruns of a group that crashed after passing (1); `command`: the
 *   arguments to the Deno executable before the files (`["test", ...TEST_PERMISSIONS]`);
 *   `echo`: pass the processes' output through (true)
 * @returns the totals and notes
 */
export async function runTests(
  groups: { name: string; files: string[] }[],
  o: { retries?: number; command?: string[]; echo?: boolean } = {},
): Promise<RunReport> {
  const retries = o.retries ?? 1;
  const command = o.command ?? ["test", ...TEST_PERMISSIONS];
  const report: RunReport = { ok: true, passed: 0, failed: 0, ignored: 0, notes: [] };
  const t0 = performance.now();
  for (const g of groups) {
    console.log(`\n=== test group "${g.name}": ${g.files.length} files ===`);
    let e = await runGroup(g.files, command, o.echo ?? true);
    let verdict = judge(e);
    for (let r = 0; r < retries && verdict === "crashed-after-pass"; r++) {
      const how = e.signal ?? `exit code ${e.code}`;
      const note = `group "${g.name}": deno test died on ${how} after all its ` +
        `${e.summary!.passed} tests passed (a crash while the process exits); rerun ${r + 1}`;
      console.log(`\n=== ${note} ===`);
      e = await runGroup(g.files, command, o.echo ?? true);
      verdict = judge(e);
      report.notes.push(`${note}: ${verdict === "ok" ? "passed" : verdict}`);
    }
    report.passed += e.summary?.passed ?? 0;
    report.failed += e.summary?.failed ?? 0;
    report.ignored += e.summary?.ignored ?? 0;
    if (verdict !== "ok") {
      report.ok = false;
      const why = e.summary === null
        ? `ended with ${e.signal ?? `exit code ${e.code}`} before its summary`
        : verdict === "crashed-after-pass"
        ? `died on ${e.signal ?? `exit code ${e.code}`} after passing, again on the rerun`
        : `${e.summary.failed} failed`;
      report.notes.push(`group "${g.name}": ${why}`);
    }
  }
  const s = Math.round((performance.now() - t0) / 1000);
  console.log("");
  for (const n of report.notes) console.log(`note: ${n}`);
  console.log(
    `${report.ok ? "ok" : "FAILED"} | ${report.passed} passed | ${report.failed} failed` +
      (report.ignored ? ` | ${report.ignored} ignored` : "") +
      ` (${Math.floor(s / 60)}m${s % 60}s)`,
  );
  return report;
}

if (import.meta.main) {
  const root = Deno.args[0] ?? "tests";
  const report = await runTests(await collectGroups(root));
  Deno.exit(report.ok ? 0 : 1);
}
