// The test runner (tools/run_tests.ts): groups, its closing summary, and the one rerun it allows
// (a process that died on a signal after every test passed); real child processes, real signals.
import { collectGroups, judge, parseSummary, runTests } from "../../tools/run_tests.ts";

const fake = new URL("./_fake_test_process.ts", import.meta.url).pathname;
const opts = { command: ["run", "-A", fake], echo: false };

async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => {};
  try {
    return await f();
  } finally {
    console.log = log;
  }
}

async function runs(state: string): Promise<number> {
  return (await Deno.readTextFile(`${state}.runs`)).trim().split("\n").length;
}

Deno.test("run_tests: reads deno test's closing line, with steps, ignored and filtered counts", () => {
  const s = parseSummary(
    "x\nok | 4 passed (2 steps) | 0 failed | 2 ignored | 5 filtered out (9ms)\n",
  );
  if (!s || !s.ok || s.passed !== 4 || s.failed !== 0 || s.ignored !== 2) {
    throw new Error(JSON.stringify(s));
  }
  const f = parseSummary("FAILED | 1 passed | 3 failed (1s)");
  if (!f || f.ok || f.failed !== 3) throw new Error(JSON.stringify(f));
  if (parseSummary("running 3 tests\nno summary") !== null) throw new Error("no closing line");
});

Deno.test("run_tests: only a signal after an all-passed summary counts as a crash to rerun", () => {
  const passed = { ok: true, passed: 5, failed: 0, ignored: 0 };
  const failed = { ok: false, passed: 4, failed: 1, ignored: 0 };
  const cases: [Parameters<typeof judge>[0], string][] = [
    [{ code: 0, signal: null, summary: passed }, "ok"],
    [{ code: 134, signal: "SIGABRT", summary: passed }, "crashed-after-pass"],
    [{ code: 139, signal: null, summary: passed }, "crashed-after-pass"],
    [{ code: 1, signal: null, summary: passed }, "failed"],
    [{ code: 134, signal: "SIGABRT", summary: failed }, "failed"],
    [{ code: 134, signal: "SIGABRT", summary: null }, "failed"],
    [{ code: 0, signal: null, summary: null }, "failed"],
  ];
  for (const [e, want] of cases) {
    if (judge(e) !== want) throw new Error(`${JSON.stringify(e)}: ${judge(e)}, want ${want}`);
  }
});

Deno.test("run_tests: every test file lands in one group; unlisted folders form the last group", async () => {
  const root = await Deno.makeTempDir();
  for (const f of ["kernels/a_test.ts", "kernels/deep/b_test.ts", "new/c_test.ts", "d_test.ts"]) {
    await Deno.mkdir(`${root}/${f}`.replace(/\/[^/]+$/, ""), { recursive: true });
    await Deno.writeTextFile(`${root}/${f}`, "");
  }
  await Deno.writeTextFile(`${root}/kernels/helper.ts`, "");
  await Deno.mkdir(`${root}/fixtures`);
  await Deno.writeTextFile(`${root}/fixtures/x_test.ts`, "");
  const groups = await collectGroups(root, [{ name: "k", folders: ["kernels"] }]);
  const got = groups.map((g) => `${g.name}:${g.files.map((f) => f.slice(root.length + 1))}`);
  const want = ["k:kernels/a_test.ts,kernels/deep/b_test.ts", "other:d_test.ts,new/c_test.ts"];
  if (got.join(" ") !== want.join(" ")) throw new Error(got.join(" "));
  // The real suite: no test file is left out of the groups.
  const real = await collectGroups(new URL("../", import.meta.url).pathname);
  const n = real.reduce((s, g) => s + g.files.length, 0);
  let all = 0;
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory && e.name !== "fixtures") await walk(`${d}/${e.name}`);
      else if (e.name.endsWith("_test.ts")) all++;
    }
  };
  await walk(new URL("../", import.meta.url).pathname);
  if (n !== all || n < 50) throw new Error(`${n} grouped of ${all}`);
});

Deno.test("run_tests: a group that dies on a signal after passing is rerun once and its rerun counts", async () => {
  const dir = await Deno.makeTempDir();
  const r = await quietly(() =>
    runTests([{ name: "a", files: ["pass", `${dir}/a`] }, {
      name: "b",
      files: ["flaky", `${dir}/b`],
    }], opts)
  );
  if (!r.ok || r.passed !== 6 || r.failed !== 0 || r.ignored !== 2) {
    throw new Error(JSON.stringify(r));
  }
  if (await runs(`${dir}/a`) !== 1 || await runs(`${dir}/b`) !== 2) throw new Error("reruns");
  if (
    r.notes.length !== 1 || !/group "b".*SIGKILL.*3 tests passed.*rerun 1: passed/.test(r.notes[0])
  ) {
    throw new Error(r.notes.join("\n"));
  }
});

Deno.test("run_tests: failures are never rerun; a second crash or a crash before the summary fails the run", async () => {
  const dir = await Deno.makeTempDir();
  const fail = await quietly(() => runTests([{ name: "f", files: ["fail", `${dir}/f`] }], opts));
  if (fail.ok || fail.failed !== 1 || await runs(`${dir}/f`) !== 1) {
    throw new Error(JSON.stringify(fail));
  }
  const crash = await quietly(() => runTests([{ name: "c", files: ["crash", `${dir}/c`] }], opts));
  if (crash.ok || await runs(`${dir}/c`) !== 2 || !/again on the rerun/.test(crash.notes.join())) {
    throw new Error(JSON.stringify(crash));
  }
  const early = await quietly(() => runTests([{ name: "e", files: ["early", `${dir}/e`] }], opts));
  if (early.ok || await runs(`${dir}/e`) !== 1 || !/before its summary/.test(early.notes.join())) {
    throw new Error(JSON.stringify(early));
  }
});
