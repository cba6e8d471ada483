// Stands in for a `deno test` process in tests/tools/run_tests_test.ts: prints a closing summary
// like deno test's, then ends as asked. Arguments: MODE STATE_FILE.
//   pass: exit 0.  fail: one test failed, exit 1.  crash: all passed, then SIGKILL (a signal
//   that leaves no core file).
//   flaky: like crash the first time (no STATE_FILE yet), like pass afterwards.
//   early: SIGKILL before any summary.
// Every run appends a line to STATE_FILE.runs, so the test can count the reruns.
const [mode, state] = Deno.args;
await Deno.writeTextFile(`${state}.runs`, `${mode}\n`, { append: true });
const exists = await Deno.stat(state).then(() => true, () => false);
if (mode === "early") Deno.kill(Deno.pid, "SIGKILL");
if (mode === "fail") {
  console.log("FAILED | 2 passed | 1 failed (3ms)");
  Deno.exit(1);
}
console.log("ok | 3 passed | 0 failed | 1 ignored (4ms)");
if (mode === "crash" || (mode === "flaky" && !exists)) {
  await Deno.writeTextFile(state, "crashed once");
  Deno.kill(Deno.pid, "SIGKILL");
  await new Promise((r) => setTimeout(r, 10_000)); // the signal ends the process first
}
