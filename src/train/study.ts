/**
 * The paper's comparison as one resumable study: pre-trained backbones, frozen and fine-tuned,
 * against the same network trained from scratch, on a downstream task at several labelled-set
 * sizes and seeds; a table (CSV, JSON) and the metric against labelled jets with error bars
 * (SVG; the paper's figure 4). Every run lives in its own folder and a finished run is never
 * redone, so an interrupted study continues where it stopped.
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import { exists, writeAtomic } from "../io/files.ts";
import { lineSvg } from "../eval/plots.ts";
import { downstreamTask } from "./downstream/registry.ts";
import { finetune, type FinetuneOptions } from "./finetune.ts";
import type { Metrics } from "./downstream/task.ts";
import { pairedAgainstScratch, studySummary } from "./study_tables.ts";

/** How a curve trains its backbone. */
export type StudyMode = "frozen" | "finetuned" | "scratch";

/** One curve of the study: a backbone and how it is trained. */
export interface StudyCurve {
  /** Name in tables and legends, e.g. `mpm-finetuned` or `scratch`. */
  name: string;
  /** A backbone file, or `random`. */
  backbone: string;
  /** Training mode. */
  mode: StudyMode;
}

/** Options of {@linkcode study}. */
export interface StudyOptions
  extends Omit<FinetuneOptions, "backbone" | "nTrain" | "seed" | "out" | "gpu" | "frozen"> {
  /** Pre-trained backbones by label. */
  backbones: Record<string, string>;
  /** Modes of the pre-trained backbones (default frozen and finetuned). */
  modes?: readonly ("frozen" | "finetuned")[];
  /** Add the `scratch` baseline (default true): the first backbone's shape, random, trained end to end. */
  scratch?: boolean;
  /** Labelled training-set sizes (CWoLa: signal jets). */
  sizes: readonly number[];
  /** Seeds per point. */
  seeds: readonly number[];
  /** Output folder. */
  out: string;
  /** Start over in `out` (default: continue a study with the same settings). */
  overwrite?: boolean;
}

/** One finished run. */
export interface StudyRow {
  /** Curve name. */
  curve: string;
  /** Labelled jets. */
  n: number;
  /** Seed. */
  seed: number;
  /** The task's headline metric. */
  value: number;
  /** Every metric of the run. */
  metrics: Metrics;
}

/** The curves a study compares. */
export function studyCurves(
  o: Pick<StudyOptions, "backbones" | "modes" | "scratch">,
): StudyCurve[] {
  const modes = o.modes ?? ["frozen", "finetuned"];
  const curves: StudyCurve[] = [];
  for (const [label, path] of Object.entries(o.backbones)) {
    for (const mode of modes) curves.push({ name: `${label}-${mode}`, backbone: path, mode });
  }
  if (o.scratch ?? true) curves.push({ name: "scratch", backbone: "random", mode: "scratch" });
  return curves;
}

/** The settings that define a study (a continued study must have the same). */
function identity(o: StudyOptions): Record<string, unknown> {
  const { log: _log, overwrite: _ow, command: _cmd, ...rest } = o;
  return { format: "mpm-webgpu-study/1", ...rest, curves: studyCurves(o) };
}

/**
 * Runs (or continues) a study; writes `out/study.json` (its settings), `out/runs/<curve>_n<N>_s<seed>/`
 * (each fine-tuning run), `out/results.csv` and `results.json` (one row per run, with the best
 * validation loss), `out/summary.csv` and `summary.json` (mean ± standard deviation of the metric
 * and the validation loss per curve and size), `out/paired.csv` (each curve against scratch, run
 * for run; {@linkcode pairedAgainstScratch}) and `out/study.svg`.
 *
 * @param gpu device
 * @param o the study
 * @returns every run's row
 * @throws {Error} when `out` holds a study with other settings (and `overwrite` is not set)
 * @example
 * ```ts ignore
 * await study(gpu, { task: "classify", backbones: { mpm: "run/backbone.safetensors" },
 *   sizes: [100, 1000], seeds: [0, 1, 2], train: ["jets.h5"], steps: 500, out: "study" });
 * ```
 */
export async function study(gpu: Gpu, o: StudyOptions): Promise<StudyRow[]> {
  const log = o.log ?? ((s: string) => console.log(s));
  const metric = downstreamTask(o.task).metric;
  const id = identity(o);
  const specPath = `${o.out}/study.json`;
  if (await exists(specPath) && !o.overwrite) {
    const old = JSON.parse(await Deno.readTextFile(specPath));
    if (JSON.stringify(old) !== JSON.stringify(id)) {
      throw new Error(
        `${o.out} holds a study with other settings (${specPath}); give another --out, the same ` +
          "settings to continue it, or --overwrite to start over",
      );
    }
    log(`continuing the study in ${o.out}`);
  } else if (await exists(o.out) && o.overwrite) {
    await Deno.remove(o.out, { recursive: true });
  }
  await Deno.mkdir(`${o.out}/runs`, { recursive: true });
  await writeAtomic(specPath, JSON.stringify(id, null, 2));
  const curves = studyCurves(o);
  const like = Object.values(o.backbones)[0];
  const total = curves.length * o.sizes.length * o.seeds.length;
  const rows: StudyRow[] = [];
  const t0 = performance.now();
  let ran = 0;
  for (const n of o.sizes) {
    for (const seed of o.seeds) {
      for (const c of curves) {
        const dir = `${o.out}/runs/${c.name}_n${n}_s${seed}`;
        let metrics: Metrics;
        if (await exists(`${dir}/metrics.json`) && await exists(`${dir}/head.safetensors`)) {
          metrics = JSON.parse(await Deno.readTextFile(`${dir}/metrics.json`));
        } else {
          metrics = await finetune({
            ...o,
            gpu,
            backbone: c.backbone,
            like: c.backbone === "random" ? like : undefined,
            frozen: c.mode === "frozen",
            // The protocol gives scratch its baseline settings; an explicit unfreeze step is
            // meant for the pre-trained backbones.
            ...(c.mode === "scratch" ? { unfreezeAt: 0, catchup: 1 } : {}),
            nTrain: n,
            seed,
            out: dir,
            overwrite: true, // an unfinished run of this study is redone from its start
            log: () => {},
          });
          ran++;
        }
        rows.push({ curve: c.name, n, seed, value: metrics[metric], metrics });
        const done = rows.length, elapsed = (performance.now() - t0) / 1000;
        const eta = ran ? (elapsed / ran) * (total - done) : NaN;
        const val = metrics.best_val_loss;
        log(
          `[${done}/${total}] ${c.name} n=${n} seed=${seed}: ${metric} ${
            metrics[metric].toFixed(4)
          }${Number.isFinite(val) ? `, best validation loss ${val.toFixed(4)}` : ""}${
            Number.isFinite(eta) && done < total ? ` | ETA ${Math.ceil(eta / 60)} min` : ""
          }`,
        );
        await writeResults(o, rows, metric);
      }
    }
  }
  return rows;
}

/** A number for a CSV cell: empty where it was not computed. */
const cell = (x: number) => Number.isFinite(x) ? String(x) : "";

async function writeResults(o: StudyOptions, rows: StudyRow[], metric: string): Promise<void> {
  await writeAtomic(
    `${o.out}/results.csv`,
    `curve,n,seed,${metric},best_val_loss\n` +
      rows.map((r) =>
        `${r.curve},${r.n},${r.seed},${r.value},${cell(r.metrics.best_val_loss ?? NaN)}`
      ).join("\n") + "\n",
  );
  await writeAtomic(`${o.out}/results.json`, JSON.stringify(rows, null, 2));
  const curves = [...new Set(rows.map((r) => r.curve))];
  const summary = studySummary(rows);
  await writeAtomic(
    `${o.out}/summary.csv`,
    `curve,n,mean_${metric},std_${metric},mean_val_loss,std_val_loss,runs\n` +
      summary.map((s) =>
        `${s.curve},${s.n},${s.mean},${s.std},${cell(s.valLoss)},${cell(s.valLossStd)},${s.runs}`
      ).join("\n") + "\n",
  );
  const paired = pairedAgainstScratch(rows);
  if (paired.length) {
    await writeAtomic(
      `${o.out}/paired.csv`,
      `curve,n,mean_${metric}_minus_scratch,std,paired_t,pairs,ahead\n` +
        paired.map((p) =>
          `${p.curve},${p.n},${p.mean},${cell(p.std)},${cell(p.t)},${p.pairs},${p.ahead}`
        ).join("\n") + "\n",
    );
  }
  await writeAtomic(
    `${o.out}/summary.json`,
    JSON.stringify({ metric, summary, paired }, null, 2),
  );
  await writeAtomic(
    `${o.out}/study.svg`,
    lineSvg(
      curves.map((curve) => {
        const s = summary.filter((x) => x.curve === curve);
        return {
          label: curve,
          x: s.map((x) => x.n),
          y: s.map((x) => x.mean),
          err: s.map((x) => x.std),
        };
      }),
      {
        title: `${o.task}: ${metric} against labelled jets`,
        xLabel: "labelled training jets",
        yLabel: `${metric} (mean ± std over seeds)`,
        logX: o.sizes.length > 1,
        note: `seeds ${o.seeds.join(", ")}; ${o.steps ?? 1000} steps per run`,
      },
    ),
  );
}
