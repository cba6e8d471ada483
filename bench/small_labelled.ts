/**
 * Small labelled sets, from scratch: the library's classifier (`deno task finetune --backbone
 * random --finetune`, the default protocol) next to a plain PyTorch set transformer of the same
 * size (`bench/peers/small_classifier.py`) on the same training, validation and test jets, with
 * the same number of passes over the training jets, for several sizes and seeds.
 *
 * ```sh
 * deno run -A bench/small_labelled.ts [--train T.h5 --val V.h5 --test S.h5] [--sizes 300,1000]
 *   [--seeds 0,1] [--steps 300] [--batch 32] [--out bench/out/small_labelled]
 * ```
 *
 * Without files it synthesises them (seeded). Writes `OUT/small_labelled.json` (every run) and
 * `OUT/small_labelled.md` (mean ± standard deviation per size, and the library's accuracy
 * relative to the peer's).
 *
 * @module
 */
import { parseArgs } from "node:util";

const str = (d?: string) => ({ type: "string" as const, default: d });
const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    train: str(),
    val: str(),
    test: str(),
    sizes: str("300,1000"),
    seeds: str("0,1"),
    steps: str("300"),
    batch: str("32"),
    out: str("bench/out/small_labelled"),
    python: str("/usr/bin/python3"),
  },
}) as { values: Record<string, string> };
const sizes = a.sizes.split(",").map(Number), seeds = a.seeds.split(",").map(Number);
const steps = Number(a.steps), batch = Number(a.batch), out = a.out;
const root = new URL("..", import.meta.url).pathname;
await Deno.mkdir(out, { recursive: true });

async function sh(cmd: string, args: string[], cwd = root): Promise<string> {
  const r = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(r.stdout);
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(r.stderr)}`);
  }
  return text;
}

const file = async (role: string, given: string | undefined, jets: number, seed: number) => {
  if (given) return given;
  const path = `${out}/${role}.h5`;
  try {
    await Deno.stat(path);
  } catch {
    await sh(Deno.execPath(), [
      "run",
      "-A",
      "tasks/data.ts",
      "synth",
      "--jets",
      String(jets),
      "--seed",
      String(seed),
      "--out",
      path,
    ]);
  }
  return path;
};
const train = await file("train", a.train, Math.max(...sizes), 11);
const val = await file("val", a.val, 1000, 12);
const test = await file("test", a.test, 2000, 13);

interface Row {
  who: "library" | "pytorch";
  n: number;
  seed: number;
  accuracy: number;
  auc: number;
  seconds: number;
}
const rows: Row[] = [];
for (const n of sizes) {
  for (const seed of seeds) {
    const dir = `${out}/runs/n${n}_s${seed}`;
    const t0 = performance.now();
    await sh(Deno.execPath(), [
      "run",
      "-A",
      "tasks/finetune.ts",
      "--task",
      "classify",
      "--backbone",
      "random",
      "--finetune",
      "--train",
      train,
      "--val",
      val,
      "--test",
      test,
      "--n-train",
      String(n),
      "--steps",
      String(steps),
      "--batch",
      String(batch),
      "--seed",
      String(seed),
      "--max-eval-jets",
      "2000",
      "--out",
      dir,
      "--overwrite",
    ]);
    const m = JSON.parse(await Deno.readTextFile(`${dir}/metrics.json`));
    rows.push({
      who: "library",
      n,
      seed,
      accuracy: m.accuracy,
      auc: m.auc,
      seconds: (performance.now() - t0) / 1000,
    });
    const epochs = Math.max(1, Math.round((steps * batch) / n));
    const p = JSON.parse(
      await sh(a.python, [
        "bench/peers/small_classifier.py",
        "--train",
        train,
        "--val",
        val,
        "--test",
        test,
        "--n-train",
        String(n),
        "--epochs",
        String(epochs),
        "--seed",
        String(seed),
        "--batch",
        String(batch),
      ]),
    );
    rows.push({ who: "pytorch", n, seed, accuracy: p.accuracy, auc: p.auc, seconds: p.seconds });
    console.log(
      `n=${n} seed=${seed}: library accuracy ${m.accuracy.toFixed(3)} auc ${
        m.auc.toFixed(3)
      } | pytorch accuracy ${p.accuracy.toFixed(3)} auc ${p.auc.toFixed(3)} (${epochs} epochs)`,
    );
  }
}

const stat = (v: number[]) => {
  const mu = v.reduce((s, x) => s + x, 0) / v.length;
  const sd = v.length > 1
    ? Math.sqrt(v.reduce((s, x) => s + (x - mu) ** 2, 0) / (v.length - 1))
    : 0;
  return { mu, sd };
};
const fmt = (v: number[]) => {
  const { mu, sd } = stat(v);
  return `${mu.toFixed(3)} ± ${sd.toFixed(3)}`;
};
const lines = [
  `# Small labelled sets from scratch: library vs PyTorch (${
    new Date().toISOString().slice(0, 10)
  })`,
  "",
  `Same jets (train ${train}, val ${val}, test ${test}, ${
    test.includes(out) ? "synthetic" : "given"
  }), ${steps} steps of ${batch} jets (PyTorch: the same passes over the training jets), seeds ${seeds}.`,
  "",
  "| labelled jets | library accuracy | PyTorch accuracy | library AUC | PyTorch AUC | accuracy ratio |",
  "|---:|---:|---:|---:|---:|---:|",
];
for (const n of sizes) {
  const pick = (who: string, k: "accuracy" | "auc") =>
    rows.filter((r) => r.n === n && r.who === who).map((r) => r[k]);
  const ratio = stat(pick("library", "accuracy")).mu / stat(pick("pytorch", "accuracy")).mu;
  lines.push(
    `| ${n} | ${fmt(pick("library", "accuracy"))} | ${fmt(pick("pytorch", "accuracy"))} | ${
      fmt(pick("library", "auc"))
    } | ${fmt(pick("pytorch", "auc"))} | ${ratio.toFixed(3)} |`,
  );
}
await Deno.writeTextFile(`${out}/small_labelled.json`, JSON.stringify(rows, null, 2));
await Deno.writeTextFile(`${out}/small_labelled.md`, lines.join("\n") + "\n");
console.log(lines.join("\n"));
