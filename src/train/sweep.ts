/**
 * Data-efficiency studies: a downstream task trained for several training-set sizes and seeds,
 * for one or more backbones plus the randomly initialised baseline, summarised as a CSV and an
 * SVG of the task's metric against the number of labelled jets (mean ± standard deviation), as
 * in the paper's figures 3 and 4.
 *
 * @module
 */
import { lineSvg } from "../eval/plots.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { finetune, type FinetuneOptions } from "./finetune.ts";
import { downstreamTask } from "./downstream/registry.ts";
import { writeAtomic } from "../io/files.ts";
import { claimRunDir } from "./rundir.ts";
import { meanStd } from "./study_tables.ts";

/** Options of {@linkcode sweep}. */
export interface SweepOptions
  extends Omit<FinetuneOptions, "backbone" | "nTrain" | "seed" | "out" | "gpu"> {
  /** Backbones by label (`random` is added as the baseline, shaped like the first). */
  backbones: Record<string, string>;
  /** Training-set sizes (labelled jets; CWoLa: signal jets). */
  sizes: readonly number[];
  /** Seeds per point. */
  seeds: readonly number[];
  /** Output folder. */
  out: string;
  /** Replace an earlier sweep in `out`. */
  overwrite?: boolean;
}

/** One row of a sweep. */
export interface SweepRow {
  /** Backbone label. */
  backbone: string;
  /** Training jets. */
  n: number;
  /** Seed. */
  seed: number;
  /** Headline metric. */
  value: number;
}

/**
 * Runs the study and writes `out/sweep.csv`, `out/sweep_summary.csv` and `out/sweep.svg`.
 *
 * @example
 * ```ts ignore
 * await sweep(gpu, { task: "classify", backbones: { mpm: "run/backbone.safetensors" },
 *   sizes: [100, 1000], seeds: [0, 1], train: ["jets.h5"], out: "sweep" });
 * ```
 */
export async function sweep(gpu: Gpu, o: SweepOptions): Promise<SweepRow[]> {
  const metric = downstreamTask(o.task).metric;
  const labels = { ...o.backbones, random: "random" };
  const like = Object.values(o.backbones)[0];
  const rows: SweepRow[] = [];
  const log = o.log ?? ((s: string) => console.log(s));
  await claimRunDir(o.out, { kind: "sweep", inputs: {}, task: o.task }, { overwrite: o.overwrite });
  for (const [label, path] of Object.entries(labels)) {
    for (const n of o.sizes) {
      for (const seed of o.seeds) {
        const dir = `${o.out}/${label}_n${n}_s${seed}`;
        const m = await finetune({
          ...o,
          gpu,
          backbone: path,
          like,
          nTrain: n,
          seed,
          out: dir,
          log: () => {},
        });
        rows.push({ backbone: label, n, seed, value: m[metric] });
        log(
          `${o.task} ${label} n=${n} seed=${seed}: ${metric} ${
            m[metric].toFixed(4)
          } (${m.steps} steps)`,
        );
        await writeAtomic(
          `${o.out}/sweep.csv`,
          "backbone,n,seed," + metric + "\n" + rows.map((r) =>
            `${r.backbone},${r.n},${r.seed},${r.value}`
          ).join("\n") + "\n",
        );
      }
    }
  }
  const summary: string[] = [`backbone,n,mean_${metric},std_${metric},runs`];
  for (const label of Object.keys(labels)) {
    for (const n of o.sizes) {
      const s = meanStd(rows.filter((r) => r.backbone === label && r.n === n).map((r) => r.value));
      summary.push(`${label},${n},${s.mean},${s.std},${s.runs}`);
    }
  }
  await writeAtomic(`${o.out}/sweep_summary.csv`, summary.join("\n") + "\n");
  await writeAtomic(`${o.out}/sweep.svg`, sweepSvg(summary.join("\n"), o.task));
  return rows;
}

/**
 * The sweep plot (metric vs labelled jets, mean ± standard deviation per backbone) from the
 * text of `sweep_summary.csv`.
 *
 * @example
 * ```ts
 * import { sweepSvg } from "@mpm/webgpu/train";
 * const csv = "backbone,n,mean_ari,std_ari,runs\nmpm,100,0.5,0.01,2\nmpm,1000,0.6,0.01,2";
 * console.assert(sweepSvg(csv, "vertex").includes("<path"));
 * ```
 */
export function sweepSvg(summaryCsv: string, task: string): string {
  const rows = summaryCsv.trim().split("\n").slice(1).map((l) => l.split(","));
  const labels = [...new Set(rows.map((r) => r[0]))];
  const series = labels.map((label) => {
    const sel = rows.filter((r) => r[0] === label);
    return {
      label,
      x: sel.map((r) => Number(r[1])),
      y: sel.map((r) => Number(r[2])),
      err: sel.map((r) => Number(r[3]) || 0),
    };
  });
  const metric = downstreamTask(task).metric;
  const runs = [...new Set(rows.map((r) => r[4]))].join("/");
  return lineSvg(series, {
    title: `${task}: ${metric} vs labelled jets`,
    xLabel: "labelled training jets",
    yLabel: `${metric} (mean ± std over seeds)`,
    logX: true,
    note: `${runs} run(s) per point`,
  });
}
