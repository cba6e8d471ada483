/**
 * Track-origin identification: an MLP on each track's backbone token classifies it as from the
 * primary vertex, a charm or bottom decay, or other, with the reference's class weights and
 * label smoothing 0.1. Test metric: balanced accuracy, overall and per number of tracks.
 *
 * @module
 */
import * as ops from "../../autograd/ops.ts";
import type { JetBatch } from "../../data/loader.ts";
import { balancedAccuracy } from "../../eval/metrics.ts";
import { lineSvg } from "../../eval/plots.ts";
import { TrackHead } from "../../heads/heads.ts";
import { writeAtomic } from "../../io/files.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import {
  type Collector,
  defineDownstream,
  type DownstreamTask,
  type Metrics,
  particleTokens,
  type PredictionArrays,
} from "./task.ts";

/** Track-origin class weights of the reference (primary, charm, bottom, other). */
export const TRACK_CLASS_WEIGHTS: readonly number[] = [0.3868, 1.4342, 3.3482, 2.3896];

/** Track classes. */
const CLASSES = 4;

/** Predicted and true origin of every real track, with its jet's track count. */
class TrackCollector implements Collector {
  readonly #pred: number[] = [];
  readonly #true: number[] = [];
  readonly #ntrk: number[] = [];
  readonly #logits: Float32Array[] = [];
  #tracks = 0;

  add(batch: JetBatch, lg: Float32Array): void {
    const N = batch.nParticles;
    this.#logits.push(lg);
    this.#tracks = N;
    for (let j = 0; j < batch.size; j++) {
      let nt = 0;
      for (let n = 0; n < N; n++) nt += batch.valid[j * N + n];
      for (let n = 0; n < N; n++) {
        const i = j * N + n;
        if (!batch.valid[i]) continue;
        let best = 0;
        for (let c = 1; c < CLASSES; c++) {
          if (lg[i * CLASSES + c] > lg[i * CLASSES + best]) best = c;
        }
        this.#pred.push(best);
        this.#true.push(batch.trackType![i]);
        this.#ntrk.push(nt);
      }
    }
  }

  #byTracks(): number[] {
    return [...new Set(this.#ntrk)].sort((a, b) => a - b);
  }

  metrics(): Metrics {
    const m: Metrics = { balanced_accuracy: balancedAccuracy(this.#pred, this.#true) };
    for (const n of this.#byTracks()) {
      const idx = this.#ntrk.map((v, i) => (v === n ? i : -1)).filter((i) => i >= 0);
      m[`balanced_accuracy_ntrk_${n}`] = balancedAccuracy(
        idx.map((i) => this.#pred[i]),
        idx.map((i) => this.#true[i]),
      );
    }
    return m;
  }

  async plots(dir: string, m: Metrics): Promise<void> {
    const ns = this.#byTracks();
    const counts = ns.map((n) => this.#ntrk.filter((v) => v === n).length);
    await writeAtomic(
      `${dir}/balanced_accuracy_vs_ntrk.svg`,
      lineSvg([
        {
          label: "balanced accuracy",
          x: ns,
          y: ns.map((n) => m[`balanced_accuracy_ntrk_${n}`]),
          style: "points",
        },
        {
          label: `chance (1/${CLASSES})`,
          x: [ns[0] - 0.5, ns.at(-1)! + 0.5],
          y: [1 / CLASSES, 1 / CLASSES],
          style: "reference",
        },
      ], {
        title: "track identification",
        xLabel: "tracks in the jet",
        yLabel: "balanced accuracy",
        integerX: true,
        xRange: [ns[0] - 0.5, ns.at(-1)! + 0.5],
        note: `tracks per point: ${ns.map((n, i) => `${n}: ${counts[i]}`).join(", ")}`,
      }),
    );
  }

  predictions(): PredictionArrays {
    const data = new Float32Array(this.#logits.reduce((s, l) => s + l.length, 0));
    let o = 0;
    for (const l of this.#logits) (data.set(l, o), o += l.length);
    return {
      datasets: [{
        name: "track_logits",
        rowShape: [this.#tracks, CLASSES],
        dtype: "f32" as const,
        data,
      }],
      attributes: { track_logits: "primary, charm, bottom, other" },
    };
  }
}

/** `--task trackid`: track-origin identification on BTag-like jets. */
export const TRACKID: DownstreamTask = defineDownstream<{ mlp: TrackHead; weights: Tensor }>({
  name: "trackid",
  summary: "track-origin identification: primary / charm / bottom / other (balanced accuracy)",
  metric: "balanced_accuracy",
  trims: false,
  outputs: () => CLASSES,
  check(batch, file) {
    if (!batch.trackType) {
      throw new Error(`trackid needs BTag-like files (vtx_id, track_type); ${file} has none`);
    }
  },
  buildHead: (c) => ({
    mlp: new TrackHead(c.store, c.rng, c.dim),
    weights: c.store.gpu.upload(Float32Array.from(TRACK_CLASS_WEIGHTS)),
  }),
  forward(head, c) {
    const { tape, gpu, batch: b } = c, B = b.size, N = b.nParticles;
    const tracks = particleTokens(c).reshape([B * N, c.dim]);
    const logits = head.mlp.forward(tape, tracks, c.dropout);
    const loss = ops.crossEntropy(tape, logits, tape.keep(gpu.upload(b.trackType!)), {
      labelSmoothing: 0.1,
      classWeights: head.weights,
    });
    // The mean's normaliser: the class weights of the real tracks (padding has type -1).
    let count = 0;
    for (const t of b.trackType!) if (t >= 0) count += TRACK_CLASS_WEIGHTS[t];
    return { logits, loss, count };
  },
  collector: () => new TrackCollector(),
});
