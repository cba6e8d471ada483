/**
 * Writes `device.json` and `device.md` for `bench/device.sh` from its stage outputs: the adapter
 * (`adapter.out`), the test summary (`tests.out`), every benchmark figure (JSON lines in the bench
 * stages' outputs), the ratios to PyTorch, the matmul's fraction of fp32 peak where the GPU's peak
 * is known, and each stage's status and time.
 *
 * `deno run --allow-read --allow-write bench/device_report.ts --work DIR --out DIR --commit SHA
 * [--dry-run 0|1]`
 *
 * @module
 */
import { parseArgs } from "node:util";

/** One benchmark figure as `deno task bench --json` prints it. */
export interface Figure {
  name: string;
  shape: string;
  value: number;
  unit: string;
  adapter: string;
  /** The stage that measured it. */
  stage?: string;
}

/** One stage of the check, as device.sh records it. */
export interface StageRecord {
  stage: string;
  rc: number | null;
  seconds: number;
  limit: number;
  status: "ok" | "failed" | "timeout" | "skipped";
}

/** Datasheet fp32 (non-tensor) peaks in TFLOP/s, matched on the adapter name. */
const FP32_PEAK_TFLOPS: [RegExp, number][] = [
  [/H200|H100.*(SXM|HBM3)|H100$/i, 67],
  [
    /H100.*PCIe/i,
    51,
  ],
  [/A100/i, 19.5],
  [/RTX 4090/i, 82.6],
  [/RTX 3090/i, 35.6],
];

/** Reads the test stage's `deno test` output: passed, failed, and the failing test names. */
export function parseTestSummary(
  text: string,
): { passed: number; failed: number; failures: string[] } {
  const m = [...text.matchAll(/(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g)]
    .pop();
  const failures = [...text.matchAll(/^(.+?) \.\.\. FAILED/gm)].map((x) => x[1].trim());
  return { passed: m ? Number(m[1]) : 0, failed: m ? Number(m[2]) : failures.length, failures };
}

/** Every JSON figure line in a bench stage's output. */
export function parseFigures(text: string, stage: string): Figure[] {
  const out: Figure[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const f = JSON.parse(line);
      if (typeof f.name === "string" && typeof f.value === "number") out.push({ ...f, stage });
    } catch { /* not a figure */ }
  }
  return out;
}

async function readOr(path: string, fallback = ""): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return fallback;
  }
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      work: { type: "string" },
      out: { type: "string" },
      commit: { type: "string", default: "unknown" },
      "dry-run": { type: "string", default: "0" },
    },
  });
  if (!values.work || !values.out) {
    console.error("device_report: --work DIR and --out DIR are required");
    Deno.exit(2);
  }
  const work = values.work, outDir = values.out;
  const stages: StageRecord[] = (await readOr(`${work}/stages.jsonl`)).split("\n").filter((l) =>
    l.trim()
  ).map((l) => JSON.parse(l));
  let adapter: Record<string, unknown> | null = null;
  try {
    adapter = JSON.parse((await readOr(`${work}/adapter.out`)).trim().split("\n").pop() ?? "");
  } catch { /* the adapter stage failed; its log says why */ }
  const tests = parseTestSummary(await readOr(`${work}/tests.out`));
  const figures: Figure[] = [];
  for (const s of stages) {
    if (/^(bench|presets|ssfm|profile|half)/.test(s.stage)) {
      figures.push(...parseFigures(await readOr(`${work}/${s.stage}.out`), s.stage));
    }
  }
  const adapterName = String((adapter?.info as Record<string, unknown>)?.description ?? "unknown");
  const peak = FP32_PEAK_TFLOPS.find(([re]) => re.test(adapterName))?.[1];
  // The default kernel choice and each forced storage kernel (matmul_register/_tiled64/_tiled128,
  // the last two also with scalar loads: _scalar).
  const matmuls = figures.filter((f) =>
    /^matmul(_register|_tiled64(_scalar)?|_tiled128(_scalar)?)?$/.test(f.name)
  );
  const best = matmuls.reduce<Figure | null>((b, f) => (!b || f.value > b.value ? f : b), null);
  const derived: Figure[] = [];
  if (peak && best) {
    derived.push({
      name: "matmul_fraction_of_fp32_peak",
      shape: `${best.name} ${best.shape} vs ${peak} TFLOP/s`,
      value: best.value / 1000 / peak,
      unit: "fraction",
      adapter: adapterName,
    });
  }
  const report = {
    date: new Date().toISOString(),
    commit: values.commit,
    dryRun: values["dry-run"] === "1",
    adapter,
    stages,
    tests,
    figures: [...figures, ...derived],
  };
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(`${outDir}/device.json`, JSON.stringify(report, null, 2) + "\n");

  const md: string[] = [
    `# GPU check: ${adapterName}`,
    "",
    `${report.date.slice(0, 10)}, commit ${values.commit}${
      report.dryRun ? " (dry run: tiny shapes, not figures)" : ""
    }.`,
    "",
    `Adapter: ${adapterName}; features: ${
      ((adapter?.features as string[]) ?? []).filter((f) => /f16|timestamp|subgroup/.test(f)).join(
        ", ",
      ) || "none of shader-f16, timestamp-query, subgroups"
    }; maxStorageBufferBindingSize ${
      (adapter?.limits as Record<string, number>)?.maxStorageBufferBindingSize ?? "?"
    }; matmul path ${(adapter?.library as Record<string, unknown>)?.matmulPath ?? "?"}.`,
    "",
    `Tests: ${tests.passed} passed, ${tests.failed} failed${
      tests.failures.length ? ` (${tests.failures.join("; ")})` : ""
    }.`,
    "",
    "| stage | status | seconds | limit |",
    "| --- | --- | --- | --- |",
    ...stages.map((s) => `| ${s.stage} | ${s.status} | ${s.seconds} | ${s.limit} |`),
    "",
    "| figure | shape | value | unit |",
    "| --- | --- | --- | --- |",
    ...report.figures.map((f) => `| ${f.name} | ${f.shape} | ${fmt(f.value)} | ${f.unit} |`),
    "",
  ];
  await Deno.writeTextFile(`${outDir}/device.md`, md.join("\n"));
  console.log(`device_report: ${report.figures.length} figures, ${stages.length} stages`);
}
