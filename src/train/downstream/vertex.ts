/**
 * Secondary-vertex finding: a twin network scores every pair of tracks of a jet (do they share
 * a vertex?), trained with a focal loss (γ = 3, positive weight 0.778). Test metrics: the
 * reference's adjusted Rand index over the vertex assignment and the standard (Hubert–Arabie) ARI
 * of the connected components of the predicted edges. The headline `ari` averages jets with 1-6
 * secondary vertices, as the reference reports it (`ari_all` adds the jets without any); each
 * number of vertices also has its own value.
 *
 * @module
 */
import * as ops from "../../autograd/ops.ts";
import type { JetBatch } from "../../data/loader.ts";
import { adjustedRandIndex, componentsFromEdges, referenceAri } from "../../eval/metrics.ts";
import { lineSvg } from "../../eval/plots.ts";
import { pairSlots, VertexHead } from "../../heads/heads.ts";
import { writeAtomic } from "../../io/files.ts";
import { meanStd } from "../study_tables.ts";
import {
  type Collector,
  defineDownstream,
  type DownstreamTask,
  type Metrics,
  particleTokens,
  type PredictionArrays,
} from "./task.ts";

type Pairs = ReturnType<typeof pairSlots>;

/** Pair slot of tracks (a, c), a < c, among N slots (row-major over i < j). */
function pairIndex(N: number): Map<string, number> {
  const slot = new Map<string, number>();
  let p = 0;
  for (let a = 0; a < N; a++) for (let c = a + 1; c < N; c++) slot.set(`${a},${c}`, p++);
  return slot;
}

/** ARI values of each jet, grouped by its number of vertices. */
class VertexCollector implements Collector {
  readonly #ref = new Map<number, number[]>();
  readonly #std = new Map<number, number[]>();
  readonly #logits: Float32Array[] = [];
  #width = 0;

  add(batch: JetBatch, lg: Float32Array, extra: unknown): void {
    const P = (extra as Pairs).P, N = batch.nParticles, slot = pairIndex(N);
    this.#logits.push(lg);
    this.#width = P;
    for (let j = 0; j < batch.size; j++) {
      const real: number[] = [];
      for (let n = 0; n < N; n++) if (batch.valid[j * N + n]) real.push(n);
      if (real.length < 2) continue;
      // Edges among real tracks in (i < j) order, from the pair slots.
      const edges: boolean[] = [], vtx = real.map((n) => batch.vtxId![j * N + n]);
      for (let a = 0; a < real.length; a++) {
        for (let c = a + 1; c < real.length; c++) {
          edges.push(lg[j * P + slot.get(`${real[a]},${real[c]}`)!] > 0);
        }
      }
      const nv = Math.max(...vtx);
      (this.#ref.get(nv) ?? this.#ref.set(nv, []).get(nv)!).push(referenceAri(edges, vtx));
      (this.#std.get(nv) ?? this.#std.set(nv, []).get(nv)!).push(
        adjustedRandIndex(componentsFromEdges(real.length, edges), vtx),
      );
    }
  }

  metrics(): Metrics {
    const all = (m: Map<number, number[]>) => [...m.values()].flat().filter(Number.isFinite);
    const mean = (a: number[]) => a.length ? a.reduce((s, v) => s + v, 0) / a.length : NaN;
    // The headline, as the reference reports it: jets with 1-6 secondary vertices; `_all` adds
    // the jets without any (every track from the primary vertex).
    const sv = (m: Map<number, number[]>) =>
      [...m.entries()].filter(([nv]) => nv >= 1 && nv <= 6).flatMap(([, v]) => v)
        .filter(Number.isFinite);
    const m: Metrics = {
      ari: mean(sv(this.#ref)),
      ari_standard: mean(sv(this.#std)),
      ari_all: mean(all(this.#ref)),
      ari_standard_all: mean(all(this.#std)),
    };
    for (const nv of [...this.#ref.keys()].sort((a, b) => a - b)) {
      m[`ari_nvtx_${nv}`] = mean(this.#ref.get(nv)!.filter(Number.isFinite));
      m[`ari_standard_nvtx_${nv}`] = mean(this.#std.get(nv)!.filter(Number.isFinite));
    }
    return m;
  }

  async plots(dir: string, m: Metrics): Promise<void> {
    const nvs = [...this.#ref.keys()].sort((a, b) => a - b);
    // Error bars: the standard error of the mean ARI of the jets with that many vertices.
    const sem = (a: number[]) => {
      const { std, runs } = meanStd(a);
      return runs > 1 ? std / Math.sqrt(runs) : 0;
    };
    const counts = nvs.map((v) => this.#ref.get(v)!.filter(Number.isFinite).length);
    await writeAtomic(
      `${dir}/ari_vs_nvtx.svg`,
      lineSvg([
        {
          label: "reference ARI",
          x: nvs,
          y: nvs.map((v) => m[`ari_nvtx_${v}`]),
          err: nvs.map((v) => sem(this.#ref.get(v)!)),
          style: "points",
        },
        {
          label: "standard ARI",
          x: nvs.map((v) => v + 0.08),
          y: nvs.map((v) => m[`ari_standard_nvtx_${v}`]),
          err: nvs.map((v) => sem(this.#std.get(v)!)),
          style: "points",
        },
      ], {
        title: "vertex finding",
        xLabel: "number of secondary vertices in the jet",
        yLabel: "adjusted Rand index (mean ± s.e.)",
        integerX: true,
        xRange: [Math.min(...nvs) - 0.5, Math.max(...nvs) + 0.5],
        note: `jets per point: ${nvs.map((v, i) => `${v}: ${counts[i]}`).join(", ")}`,
      }),
    );
  }

  predictions(): PredictionArrays {
    const data = new Float32Array(this.#logits.reduce((s, l) => s + l.length, 0));
    let o = 0;
    for (const l of this.#logits) (data.set(l, o), o += l.length);
    return {
      datasets: [{ name: "edge_logits", rowShape: [this.#width], dtype: "f32" as const, data }],
      attributes: { edge_logits: "pair slots i < j of the track slots, row-major" },
    };
  }
}

/** `--task vertex`: secondary-vertex finding on BTag-like jets. */
export const VERTEX: DownstreamTask = defineDownstream<VertexHead>({
  name: "vertex",
  summary: "secondary-vertex finding: which track pairs share a vertex (ARI)",
  metric: "ari",
  trims: false,
  outputs: () => 1,
  check(batch, file) {
    if (!batch.vtxId) {
      throw new Error(`vertex needs BTag-like files (vtx_id, track_type); ${file} has none`);
    }
  },
  // The reference's twin MLP: backbone width -> 128 x 3 -> backbone width.
  buildHead: (c) => new VertexHead(c.store, c.rng, c.dim, c.dim),
  forward(head, c) {
    const { tape, gpu, batch: b } = c, B = b.size, N = b.nParticles;
    const ps = pairSlots(b.valid, b.vtxId!, B, N);
    const pairs = {
      first: tape.keep(gpu.upload(ps.first, [B, ps.P, N])),
      second: tape.keep(gpu.upload(ps.second, [B, ps.P, N])),
    };
    const logits = head.forward(tape, particleTokens(c), pairs, c.dropout);
    const loss = ops.pointwiseLoss(
      tape,
      "focal",
      logits.reshape([B * ps.P, 1]),
      tape.keep(gpu.upload(ps.same, [B * ps.P, 1])),
      { valid: tape.keep(gpu.upload(ps.valid)), gamma: 3, posWeight: 0.778 },
    );
    // The mean's normaliser: the valid pairs.
    const count = ps.valid.reduce((a, v) => a + (v ? 1 : 0), 0);
    return { logits, loss, extra: ps, count };
  },
  collector: () => new VertexCollector(),
});
