/**
 * What a training run logs: the metrics CSV (with its header checked and rows past a checkpoint
 * dropped on resume), the window of per-step losses kept on the GPU (copied in each step, read
 * every `logEvery` steps — the only readback — and checked for non-finite values), and the loss
 * plots drawn from the CSV.
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { gridSvg, lineSvg } from "../eval/plots.ts";
import { writeAtomic } from "../io/files.ts";

/** A value for a CSV cell: numbers printed with 6 significant digits, absent ones empty. */
export function csvCell(v: number | string | undefined | null): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  return Number.isFinite(v) ? v.toPrecision(6) : Number.isNaN(v) ? "" : String(v);
}

/**
 * A metrics CSV: one header row, then rows appended as the run goes.
 *
 * @example
 * ```ts ignore
 * const csv = await MetricsCsv.create("run/metrics.csv", ["step", "split", "loss"]);
 * await csv.append([[1, "train", 0.5]]);
 * ```
 */
export class MetricsCsv {
  /** The file. */
  readonly path: string;
  /** Column names. */
  readonly columns: readonly string[];

  private constructor(path: string, columns: readonly string[]) {
    this.path = path;
    this.columns = columns;
  }

  /** Starts a new file with the header (atomically). */
  static async create(path: string, columns: readonly string[]): Promise<MetricsCsv> {
    await writeAtomic(path, columns.join(",") + "\n");
    return new MetricsCsv(path, columns);
  }

  /**
   * Reopens the file of a run being resumed: the header must be these columns, and rows past
   * `step` (an interrupted run may have logged further than its last checkpoint) are dropped.
   *
   * @throws {Error} naming the file when it is missing or has other columns
   */
  static async resume(path: string, columns: readonly string[], step: number): Promise<MetricsCsv> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new Error(`${path}: cannot read the run's metrics (${(e as Error).message})`);
    }
    const rows = text.trim().split("\n");
    if (rows[0] !== columns.join(",")) {
      throw new Error(
        `${path}: columns [${
          rows[0]
        }] differ from this run's [${columns}]; resume with the run's own config.json`,
      );
    }
    const kept = rows.filter((r, i) => i === 0 || Number(r.split(",")[0]) <= step);
    await writeAtomic(path, kept.join("\n") + "\n");
    return new MetricsCsv(path, columns);
  }

  /** Appends rows (cells formatted by {@linkcode csvCell}). */
  async append(rows: readonly (readonly (number | string | undefined | null)[])[]): Promise<void> {
    if (!rows.length) return;
    const text = rows.map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
    await Deno.writeTextFile(this.path, text, { append: true });
  }
}

/** A loss that became NaN or infinite: the loss, the step and the value. */
export class NonFiniteLossError extends Error {
  /** Loss name. */
  readonly loss: string;
  /** Step (1-based) where it happened. */
  readonly step: number;

  /**
   * The error for loss `loss` becoming `value` at `step`, with what to do about it.
   *
   * @param loss loss name
   * @param value the non-finite value
   * @param step 1-based step
   * @param advice what to do
   */
  constructor(loss: string, value: number, step: number, advice: string) {
    super(`loss "${loss}" became ${value} at step ${step}; ${advice}`);
    this.name = "NonFiniteLossError";
    this.loss = loss;
    this.step = step;
  }
}

/**
 * Per-step losses on the GPU: `record` copies each step's loss scalars into a row of a
 * (every, losses) buffer inside the step; `flush` reads the window once.
 *
 * @example
 * ```ts ignore
 * const w = new LossWindow(gpu, 10, ["total", "reg"]);
 * w.record(step, [total, reg]);            // inside the step, no readback
 * const rows = await w.flush(step + 1);    // every 10 steps
 * ```
 */
export class LossWindow {
  /** Loss names (columns). */
  readonly names: readonly string[];
  /** Steps per window. */
  readonly every: number;
  #gpu: Gpu;
  #buf: Tensor;
  #recorded: Uint8Array;
  #first = -1;

  /** A window of `every` steps of the named losses. */
  constructor(gpu: Gpu, every: number, names: readonly string[]) {
    this.#gpu = gpu;
    this.every = every;
    this.names = names;
    this.#buf = gpu.zeros([every, names.length]);
    this.#recorded = new Uint8Array(every * names.length);
  }

  /**
   * Records step `step` (0-based): one 1-element tensor per loss, or null for a loss that did
   * not run this step (it is logged as an empty cell).
   */
  record(step: number, losses: readonly (Tensor | null)[]): void {
    const row = step % this.every, L = this.names.length;
    if (this.#first < 0) this.#first = step;
    losses.forEach((t, k) => {
      this.#recorded[row * L + k] = t ? 1 : 0;
      if (t) this.#gpu.copy(t, this.#buf.view([1], row * L + k));
    });
  }

  /**
   * Reads the steps recorded since the last flush, up to `done` (1-based), as rows of values
   * (NaN where a loss did not run).
   *
   * @throws {NonFiniteLossError} for the first non-finite recorded loss
   */
  async flush(done: number, advice: (step: number) => string): Promise<
    { step: number; values: number[] }[]
  > {
    const all = await this.#buf.read() as Float32Array, L = this.names.length;
    const rows: { step: number; values: number[] }[] = [];
    for (let s = this.#first; s >= 0 && s < done; s++) {
      const row = s % this.every, values: number[] = [];
      for (let k = 0; k < L; k++) {
        const v = all[row * L + k];
        if (!this.#recorded[row * L + k]) {
          values.push(NaN);
          continue;
        }
        if (!Number.isFinite(v)) {
          throw new NonFiniteLossError(this.names[k], v, s + 1, advice(s + 1));
        }
        values.push(v);
      }
      rows.push({ step: s + 1, values });
    }
    this.#first = -1;
    this.#recorded.fill(0);
    return rows;
  }

  /** Releases the buffer. */
  dispose(): void {
    this.#buf.dispose();
  }
}

/**
 * Loss curves from a metrics CSV whose loss columns run from the fourth to the column before
 * `probe_acc`: one panel per loss (losses of different kinds never share an axis), train and
 * validation together, a log axis only where a loss spans more than a decade; and the probe's
 * validation accuracy with its chance level. Empty cells are left out.
 *
 * @param metricsCsv the CSV
 * @param dir folder for `train_loss.svg` (every loss, train and validation), `val_loss.svg`
 *   (validation only) and `probe_accuracy.svg`
 * @param o `probeClasses`: classes of the probe (draws the chance line)
 */
export async function writePlots(
  metricsCsv: string,
  dir: string,
  o: { probeClasses?: number } = {},
): Promise<void> {
  const rows = (await Deno.readTextFile(metricsCsv)).trim().split("\n");
  const head = rows[0].split(","), data = rows.slice(1).map((r) => r.split(","));
  const lossCols = head.slice(3, head.indexOf("probe_acc"));
  const num = (s: string | undefined) => (s === undefined || s === "" ? NaN : Number(s));
  const series = (split: string, c: string) => {
    const pts = data.filter((r) => r[1] === split).map((
      r,
    ) => [Number(r[0]), num(r[head.indexOf(c)])]).filter(([, v]) => Number.isFinite(v));
    return {
      label: split === "val" ? "validation" : "train",
      x: pts.map((p) => p[0]),
      y: pts.map((p) => p[1]),
    };
  };
  const panel = (c: string, splits: string[]) => {
    const ss = splits.map((sp) => series(sp, c)).filter((x) => x.y.length);
    const ys = ss.flatMap((x) => x.y);
    const logY = ys.length > 1 && Math.min(...ys) > 0 && Math.max(...ys) / Math.min(...ys) > 10;
    return lineSvg(ss, {
      title: c,
      xLabel: "step",
      yLabel: lossLabel(c),
      logY,
      width: 380,
      height: 260,
    });
  };
  const cols = lossCols.filter((c) => data.some((r) => Number.isFinite(num(r[head.indexOf(c)]))));
  await writeAtomic(
    `${dir}/train_loss.svg`,
    gridSvg(cols.map((c) => panel(c, ["train", "val"])), 2, "pre-training losses"),
  );
  if (data.some((r) => r[1] === "val")) {
    await writeAtomic(
      `${dir}/val_loss.svg`,
      gridSvg(cols.map((c) => panel(c, ["val"])), 2, "validation losses"),
    );
  }
  const col = head.indexOf("probe_acc");
  const acc = data.filter((r) => r[1] === "val" && Number.isFinite(num(r[col])));
  if (acc.length) {
    const x = acc.map((r) => Number(r[0]));
    const chance = o.probeClasses
      ? [{
        label: `chance (1/${o.probeClasses})`,
        x: [Math.min(...x), Math.max(...x)],
        y: [1 / o.probeClasses, 1 / o.probeClasses],
        style: "reference" as const,
      }]
      : [];
    await writeAtomic(
      `${dir}/probe_accuracy.svg`,
      lineSvg([{ label: "probe accuracy", x, y: acc.map((r) => Number(r[col])) }, ...chance], {
        title: "in-training linear probe (validation)",
        xLabel: "step",
        yLabel: "accuracy",
        note:
          "a probe refitted every few steps on the moving encoder: a trend, not deno task probe's score",
      }),
    );
  }
}

/** Axis label of a loss column. */
function lossLabel(c: string): string {
  if (c === "total") return "weighted sum of the losses";
  if (/^(id|kmeans|vqvae|probe)/.test(c)) return `${c} (cross-entropy)`;
  if (/^reg/.test(c)) return `${c} (L1, normal scores)`;
  if (/^(cfm|ssfm)/.test(c)) return `${c} (velocity MSE)`;
  if (/^cnf/.test(c)) return `${c} (NLL per particle)`;
  return c;
}
