// shaders/attention.wgsl and shaders/attention_tex.wgsl against the float64 reference: self-attention on a fused qkv tensor,
// cross-attention (Nq != Nk), class attention (Nq = 1), masked keys, fully masked rows and
// single-particle jets.
import { attentionBackward, attentionForward } from "../../src/kernels/attention.ts";
import { requestGpu } from "../../src/gpu/gpu.ts";
import { assertClose, randn, testGpu } from "../_helpers/mod.ts";
import { attentionBackwardRef, attentionRef, type AttnShape } from "../reference/attention.ts";

const gpu = await testGpu();

function cols(
  src: ArrayLike<number>,
  rows: number,
  stride: number,
  off: number,
  width: number,
): Float32Array {
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < width; c++) out[r * width + c] = src[r * stride + off + c];
  }
  return out;
}

function validMask(batch: number, nk: number, seed: number): Uint32Array {
  const v = new Uint32Array(batch * nk);
  const r = randn(batch * nk, seed, 0, 1);
  for (let i = 0; i < v.length; i++) v[i] = r[i] < 0.7 ? 1 : 0;
  v.fill(0, 0, nk); // jet 0: fully masked
  if (batch > 1) v[nk] = 1; // jet 1: at least one particle
  return v;
}

const tol = { atol: 2e-5, rtol: 2e-4 };

// Both operand paths: storage buffers (attention.wgsl, discrete GPUs; its workgroup-tiled kernels
// by default, the flat ones on request) and textures for the per-key operands (attention_tex.wgsl,
// CPU drivers).
const PATHS = {
  texture: await requestGpu({ matmulPath: "texture" }),
  storage: await requestGpu({ matmulPath: "storage" }),
};
const VARIANTS = [
  ["texture", PATHS.texture, undefined],
  ["storage", PATHS.storage, "tiled"],
  ["storage flat", PATHS.storage, "flat"],
] as const;
for (const [path, gpu, storageKernel] of VARIANTS) {
  for (const [batch, n, heads, hd] of [[3, 7, 2, 4], [2, 1, 1, 8], [4, 13, 3, 12]]) {
    Deno.test(`attention (${path}) self (fused qkv) B=${batch} N=${n} H=${heads} D=${hd}, masked keys and a fully masked jet`, async () => {
      const d = heads * hd;
      const s: AttnShape = { batch, nq: n, nk: n, heads, headDim: hd };
      const qkv = randn(batch * n * 3 * d, 1, -2, 2), dout = randn(batch * n * d, 2);
      const valid = validMask(batch, n, 3);
      const QKV = gpu.upload(qkv, [batch, n, 3 * d]), Valid = gpu.upload(valid);
      const args = {
        q: { tensor: QKV, stride: 3 * d, offset: 0 },
        k: { tensor: QKV, stride: 3 * d, offset: d },
        v: { tensor: QKV, stride: 3 * d, offset: 2 * d },
        valid: Valid,
        batch,
        nq: n,
        nk: n,
        heads,
        headDim: hd,
        storageKernel,
      };
      const saved = attentionForward(args);
      const q = cols(qkv, batch * n, 3 * d, 0, d),
        k = cols(qkv, batch * n, 3 * d, d, d),
        v = cols(qkv, batch * n, 3 * d, 2 * d, d);
      const out = await saved.out.read();
      assertClose(out, attentionRef(q, k, v, valid, s), tol);
      if (out.some((x) => !Number.isFinite(x))) throw new Error("non-finite attention output");
      const dqkv = gpu.empty([batch, n, 3 * d]);
      attentionBackward(args, saved, gpu.upload(dout, [batch, n, d]), {
        dq: { tensor: dqkv, stride: 3 * d, offset: 0 },
        dkv: { tensor: dqkv, stride: 3 * d, kOffset: d, vOffset: 2 * d },
      });
      const g = await dqkv.read();
      const ref = attentionBackwardRef(q, k, v, valid, dout, s);
      assertClose(cols(g, batch * n, 3 * d, 0, d), ref.dq, tol);
      assertClose(cols(g, batch * n, 3 * d, d, d), ref.dk, tol);
      assertClose(cols(g, batch * n, 3 * d, 2 * d, d), ref.dv, tol);
    });
  }

  for (const nq of [1, 5]) {
    Deno.test(`attention (${path}) cross / class (Nq=${nq}, Nk=9) with separate q and fused kv`, async () => {
      const [batch, nk, heads, hd] = [3, 9, 2, 8], d = heads * hd;
      const s: AttnShape = { batch, nq, nk, heads, headDim: hd };
      const q = randn(batch * nq * d, 4),
        kv = randn(batch * nk * 2 * d, 5),
        dout = randn(batch * nq * d, 6);
      const valid = validMask(batch, nk, 7);
      const Q = gpu.upload(q, [batch, nq, d]), KV = gpu.upload(kv, [batch, nk, 2 * d]);
      const args = {
        q: { tensor: Q, stride: d, offset: 0 },
        k: { tensor: KV, stride: 2 * d, offset: 0 },
        v: { tensor: KV, stride: 2 * d, offset: d },
        valid: gpu.upload(valid),
        batch,
        nq,
        nk,
        heads,
        headDim: hd,
        storageKernel,
      };
      const saved = attentionForward(args);
      const k = cols(kv, batch * nk, 2 * d, 0, d), v = cols(kv, batch * nk, 2 * d, d, d);
      assertClose(await saved.out.read(), attentionRef(q, k, v, valid, s), tol);
      const dq = gpu.empty([batch, nq, d]), dkv = gpu.empty([batch, nk, 2 * d]);
      attentionBackward(args, saved, gpu.upload(dout, [batch, nq, d]), {
        dq: { tensor: dq, stride: d, offset: 0 },
        dkv: { tensor: dkv, stride: 2 * d, kOffset: 0, vOffset: d },
      });
      const ref = attentionBackwardRef(q, k, v, valid, dout, s);
      assertClose(await dq.read(), ref.dq, tol);
      const g = await dkv.read();
      assertClose(cols(g, batch * nk, 2 * d, 0, d), ref.dk, tol);
      assertClose(cols(g, batch * nk, 2 * d, d, d), ref.dv, tol);
    });
  }
}

Deno.test("attention rejects a head dim that is not a multiple of 4", () => {
  const T = gpu.empty([1, 2, 6]);
  const op = { tensor: T, stride: 6, offset: 0 };
  let threw = false;
  try {
    attentionForward({ q: op, k: op, v: op, batch: 1, nq: 2, nk: 2, heads: 1, headDim: 6 });
  } catch {
    threw = true;
  }
  if (!threw) throw new Error("expected a ShapeError");
});

Deno.test("attention (texture) splits the sets over textures no taller than maxTextureDimension2D and equals the storage path", async () => {
  const [batch, n, heads, hd] = [300, 60, 1, 4]; // 18000 rows > 16384
  if (batch * n <= PATHS.texture.limits.maxTextureDimension2D) throw new Error("too few rows");
  const qkv = randn(batch * n * 3 * heads * hd, 31, -2, 2),
    dout = randn(batch * n * heads * hd, 32);
  const valid = validMask(batch, n, 33);
  const run = async (g: typeof gpu) => {
    const d = heads * hd, T = g.upload(qkv, [batch, n, 3 * d]), V = g.upload(valid, [batch, n]);
    const a = {
      q: { tensor: T, stride: 3 * d, offset: 0 },
      k: { tensor: T, stride: 3 * d, offset: d },
      v: { tensor: T, stride: 3 * d, offset: 2 * d },
      valid: V,
      batch,
      nq: n,
      nk: n,
      heads,
      headDim: hd,
    };
    const saved = attentionForward(a);
    const dqkv = g.zeros([batch, n, 3 * d]);
    attentionBackward(a, saved, g.upload(dout, [batch, n, d]), {
      dq: { tensor: dqkv, stride: 3 * d, offset: 0 },
      dkv: { tensor: dqkv, stride: 3 * d, kOffset: d, vOffset: 2 * d },
    });
    return { out: await saved.out.read(), lse: await saved.lse.read(), dqkv: await dqkv.read() };
  };
  const t = await run(PATHS.texture), s = await run(PATHS.storage);
  for (const k of ["out", "lse", "dqkv"] as const) {
    assertClose(t[k], s[k], { atol: 1e-6, rtol: 1e-5, label: k });
  }
});

Deno.test("attention (storage): the workgroup-tiled kernels equal the flat ones bit for bit and the reference, over several row blocks and staged chunks", async () => {
  const g = PATHS.storage;
  // [batch, nq, nk, heads, headDim]: 70 queries = 2 blocks of 64; head dim 16 stages 64 keys per
  // chunk (130 keys = 3 chunks), head dim 4 stages 256 (300 keys = 2); class attention (nq = 1).
  const shapes = [[3, 70, 130, 3, 16], [2, 300, 300, 1, 4], [4, 1, 97, 2, 32], [2, 65, 9, 2, 8]];
  for (const [batch, nq, nk, heads, hd] of shapes) {
    const d = heads * hd, label = `${batch}x${nq}x${nk} H=${heads} D=${hd}`;
    const q = randn(batch * nq * d, 41, -2, 2), kv = randn(batch * nk * 2 * d, 42, -2, 2);
    const dout = randn(batch * nq * d, 43), valid = validMask(batch, nk, 44);
    const Q = g.upload(q, [batch, nq, d]), KV = g.upload(kv, [batch, nk, 2 * d]);
    const Valid = g.upload(valid), Dout = g.upload(dout, [batch, nq, d]);
    const run = async (storageKernel: "tiled" | "flat") => {
      const args = {
        q: { tensor: Q, stride: d, offset: 0 },
        k: { tensor: KV, stride: 2 * d, offset: 0 },
        v: { tensor: KV, stride: 2 * d, offset: d },
        valid: Valid,
        batch,
        nq,
        nk,
        heads,
        headDim: hd,
        storageKernel,
      };
      const saved = attentionForward(args);
      const dq = g.empty([batch, nq, d]), dkv = g.empty([batch, nk, 2 * d]);
      attentionBackward(args, saved, Dout, {
        dq: { tensor: dq, stride: d, offset: 0 },
        dkv: { tensor: dkv, stride: 2 * d, kOffset: 0, vOffset: d },
      });
      return {
        out: await saved.out.read(),
        lse: await saved.lse.read(),
        dq: await dq.read(),
        dkv: await dkv.read(),
      };
    };
    const tiled = await run("tiled"), flat = await run("flat");
    for (const k of ["out", "lse", "dq", "dkv"] as const) {
      assertClose(tiled[k], flat[k], { atol: 0, rtol: 0, label: `${label} ${k} tiled vs flat` });
    }
    const s: AttnShape = { batch, nq, nk, heads, headDim: hd };
    const k = cols(kv, batch * nk, 2 * d, 0, d), v = cols(kv, batch * nk, 2 * d, d, d);
    assertClose(tiled.out, attentionRef(q, k, v, valid, s), { ...tol, label: `${label} out` });
    const ref = attentionBackwardRef(q, k, v, valid, dout, s);
    assertClose(tiled.dq, ref.dq, { ...tol, label: `${label} dq` });
    assertClose(cols(tiled.dkv, batch * nk, 2 * d, 0, d), ref.dk, { ...tol, label: `${label} dk` });
    assertClose(cols(tiled.dkv, batch * nk, 2 * d, d, d), ref.dv, { ...tol, label: `${label} dv` });
  }
});
