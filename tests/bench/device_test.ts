// The prepared GPU check (bench/device.sh) in its dry run: every stage on this adapter, tiny
// shapes, a report with the figures; and a hanging stage stopped at its own limit.
import { parseFigures, parseTestSummary } from "../../bench/device_report.ts";

const script = new URL("../../bench/device.sh", import.meta.url).pathname;

async function dryRun(
  out: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  const r = await new Deno.Command("bash", {
    args: [script, "--dry-run", "--out", out, ...extra],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

Deno.test("bench/device.sh --dry-run runs every stage here and writes device.json, device.md and device.log", async () => {
  const out = await Deno.makeTempDir();
  try {
    const { code, stderr } = await dryRun(out);
    assert(code === 0, `device.sh --dry-run exited ${code}:\n${stderr}`);
    const report = JSON.parse(await Deno.readTextFile(`${out}/device.json`));
    assert(report.dryRun === true, "the report is marked as a dry run");
    const stages = report.stages.map((s: { stage: string; status: string }) =>
      `${s.stage}:${s.status}`
    );
    assert(
      JSON.stringify(stages) ===
        JSON.stringify([
          "adapter:ok",
          "tests:ok",
          "bench_gpu:ok",
          "presets:ok",
          "ssfm:ok",
          "profile:ok",
          "half:ok",
        ]),
      `stages ${stages}`,
    );
    assert(report.adapter?.info?.description, "the adapter is described");
    assert(report.adapter.limits.maxStorageBufferBindingSize > 0, "limits are listed");
    assert(
      report.tests.passed > 0 && report.tests.failed === 0,
      `tests ${JSON.stringify(report.tests)}`,
    );
    const names = new Set(report.figures.map((f: { name: string }) => f.name));
    for (
      const n of [
        "matmul",
        "attention_forward",
        "attention_backward",
        "train_step",
        "mpm_train_throughput",
        "ssfm_generate",
        "step_device_time",
      ]
    ) assert(names.has(n), `figure ${n} missing: ${[...names]}`);
    const shapes = report.figures.filter((f: { name: string }) => f.name === "matmul").map((
      f: { shape: string },
    ) => f.shape);
    assert(shapes.includes("480x512x1536"), `the paper-shape matmuls ran (tiny rows): ${shapes}`);
    const md = await Deno.readTextFile(`${out}/device.md`);
    assert(md.includes("| matmul |") && md.includes("dry run"), md);
    const log = await Deno.readTextFile(`${out}/device.log`);
    assert(log.includes("----- presets: ok"), "the log holds each stage's output");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("bench/device.sh stops a hanging stage at its own limit and still runs the next stages", async () => {
  const out = await Deno.makeTempDir();
  try {
    const t0 = performance.now();
    const { code } = await dryRun(out, ["--stages", "adapter,ssfm"], {
      MPM_DEVICE_FAKE_HANG: "adapter",
      MPM_DEVICE_LIMITS: "adapter=2",
    });
    assert(code === 1, `a timed-out stage makes the exit status 1 (got ${code})`);
    assert(performance.now() - t0 < 60_000, "the hang did not eat the run");
    const report = JSON.parse(await Deno.readTextFile(`${out}/device.json`));
    const byName = Object.fromEntries(
      report.stages.map((s: { stage: string; status: string }) => [s.stage, s.status]),
    );
    assert(byName.adapter === "timeout", `adapter ${byName.adapter}`);
    assert(byName.ssfm === "ok", `ssfm ${byName.ssfm}`);
    assert(report.figures.some((f: { name: string }) => f.name === "ssfm_generate"), "ssfm figure");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("device_report reads deno test summaries and bench JSON lines", () => {
  const s = parseTestSummary(
    "a ... ok (1ms)\nmatmul is right ... FAILED (2ms)\n\nFAILED | 7 passed | 1 failed (3s)\n",
  );
  assert(
    s.passed === 7 && s.failed === 1 && s.failures[0] === "matmul is right",
    JSON.stringify(s),
  );
  const f = parseFigures(
    'noise\n{"name":"matmul","shape":"1x2x3","value":4.5,"unit":"GFLOP/s","adapter":"x"}\n{bad',
    "bench_gpu",
  );
  assert(f.length === 1 && f[0].value === 4.5 && f[0].stage === "bench_gpu", JSON.stringify(f));
});
