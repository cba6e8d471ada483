"""Load an @mpm/webgpu backbone (`backbone.safetensors` from `deno task pretrain`) into PyTorch.

The file holds the particle embedding and the transformer encoder (+ registers) with PyTorch
layouts and dotted names, and in its metadata the encoder shape, the input features, whether
particle types are embedded, and the preprocessing it was trained with. This module rebuilds
the same network in plain PyTorch (no other dependency than torch and numpy), applies the same
preprocessing, and can rename the weights to the reference implementation's modules
(mattcleigh/jetssl with mltools' Transformer), so a backbone pre-trained with @mpm/webgpu can be
fine-tuned in an existing PyTorch pipeline.

Name mapping (ours -> reference):

    embed.linear.{weight,bias}           csts_emb.{weight,bias}
    embed.types.weight                   csts_id_emb.weight
    encoder.registers (R, D)             encoder.registers (1, R, D)
    encoder.layers.i.norm1.*             encoder.layers.i.attn.norm.*
    encoder.layers.i.attn.in_proj.*      encoder.layers.i.attn.fn.attn_in.*
    encoder.layers.i.attn.out_proj.*     encoder.layers.i.attn.fn.attn_out.*
    encoder.layers.i.ls1.gamma           encoder.layers.i.attn.ls.gamma
    encoder.layers.i.norm2.*             encoder.layers.i.ff.norm.*
    encoder.layers.i.ff.lin1.*           encoder.layers.i.ff.fn.lin1.*
    encoder.layers.i.ff.lin2.*           encoder.layers.i.ff.fn.lin2.*
    encoder.layers.i.ls2.gamma           encoder.layers.i.ff.ls.gamma
    encoder.norm.*                       encoder.final_norm.*

Use as a library:

    from mpm_backbone import load_backbone
    model, info = load_backbone("run/backbone.safetensors")
    x = info.preprocessor.transform(csts, mask, ids)           # numpy, (N, P, F)
    tokens, pooled = model(T.from_numpy(x), T.from_numpy(ids), T.from_numpy(mask))

or from the command line (writes jet_embedding, particle_embedding and mask to an .npz, as
`deno task embed` does):

    python3 tools/torch/mpm_backbone.py embed --backbone run/backbone.safetensors \
        --data jets.h5 --out emb.npz [--jets N] [--no-neutral-noise]
    python3 tools/torch/mpm_backbone.py reference-names --backbone run/backbone.safetensors \
        --out backbone_jetssl.pt
"""

from __future__ import annotations

import argparse
import json
import re
import struct
from dataclasses import dataclass

import numpy as np
import torch as T
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "mpm-webgpu-backbone/1"
IP_COLUMNS = {"d0", "d0err", "dz", "dzerr"}
QUANTILE_CLIP = 5.199337582605575  # Phi^-1(1 - 1e-7), as sklearn's QuantileTransformer
DTYPES = {"F32": T.float32, "F16": T.float16, "I32": T.int32, "F64": T.float64}


def read_safetensors(path: str) -> tuple[dict[str, T.Tensor], dict[str, str]]:
    """Tensors and string metadata of a .safetensors file (no safetensors package needed)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        t = T.frombuffer(bytearray(data[a:b]), dtype=DTYPES[h["dtype"]])
        out[name] = t.reshape(h["shape"]).clone()
    return out, meta


# --------------------------------------------------------------------------- preprocessing ------
class QuantilePreprocessor:
    """The quantile-normal transform (the reference's sklearn QuantileTransformer, normal output)."""

    def __init__(self, features, quantiles, neutral_noise):
        self.features = list(features)
        self.q = [np.asarray(c, dtype=np.float64) for c in quantiles]
        self.levels = np.linspace(0, 1, len(self.q[0]))
        self.neutral_noise = neutral_noise

    def map(self, c: int, x: np.ndarray) -> np.ndarray:
        q, lv = self.q[c], self.levels
        u = 0.5 * (np.interp(x, q, lv) - np.interp(-x, -q[::-1], -lv[::-1]))
        u = np.where(x - 1e-7 < q[0], 0.0, np.where(x + 1e-7 > q[-1], 1.0, u))
        y = T.special.ndtri(T.from_numpy(u)).numpy()
        return np.clip(y, -QUANTILE_CLIP, QUANTILE_CLIP)

    def transform(self, csts, mask, ids=None, rng: np.random.Generator | None = None):
        """(N, P, F) physical values -> normalised float32, padding 0. With `rng` and
        `neutral_noise`, the impact-parameter columns of neutral particles (types 0, 2) become
        N(0, 1) noise, as in training; without `rng` they are mapped like the others."""
        x = np.zeros(csts.shape, np.float32)
        m = mask.astype(bool)
        neutral = np.isin(ids, (0, 2)) if ids is not None else np.zeros_like(m)
        for c, name in enumerate(self.features):
            col = np.zeros(m.shape)
            col[m] = self.map(c, csts[..., c][m].astype(np.float64))
            if self.neutral_noise and rng is not None and name in IP_COLUMNS:
                sel = m & neutral
                col[sel] = rng.standard_normal(int(sel.sum()))
            x[..., c] = col
        return x


class StandardPreprocessor:
    """(x - mean) / std per feature."""

    def __init__(self, features, mean, std):
        self.features, self.mean, self.std = list(features), np.asarray(mean), np.asarray(std)

    def transform(self, csts, mask, ids=None, rng=None):
        x = ((csts - self.mean) / self.std).astype(np.float32)
        x[~mask.astype(bool)] = 0
        return x


def preprocessor_from_json(j: dict):
    if j["kind"] == "quantile":
        return QuantilePreprocessor(j["features"], j["quantiles"], j.get("neutralNoise", True))
    if j["kind"] == "standard":
        return StandardPreprocessor(j["features"], j["mean"], j["std"])
    raise ValueError(f"unknown preprocessor kind {j['kind']!r}")


# --------------------------------------------------------------------------- network -------------
class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(T.ones(dim))

    def forward(self, x):
        return x * self.gamma


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x, valid):
        B, S, D = x.shape
        q, k, v = self.in_proj(x).chunk(3, -1)
        q, k, v = (t.view(B, S, self.heads, D // self.heads).transpose(1, 2) for t in (q, k, v))
        # Keys at padded slots never send (valid is True for real particles and registers).
        w = (q @ k.transpose(-2, -1)) / (D // self.heads) ** 0.5
        w = w.masked_fill(~valid[:, None, None, :], float("-inf"))
        a = T.softmax(w, -1) @ v
        return self.out_proj(a.transpose(1, 2).reshape(B, S, D))


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.lin1 = nn.Linear(dim, 2 * hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x):
        a, b = self.lin1(x).chunk(2, -1)
        return self.lin2(F.silu(a) * b)


class Block(nn.Module):
    """Pre-norm block: x + ls1(attn(norm1 x)), then h + ls2(ff(norm2 h))."""

    def __init__(self, dim: int, heads: int, ff_mult: int, layerscale: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = SwiGLU(dim, ff_mult * dim)
        self.ls1 = LayerScale(dim) if layerscale else nn.Identity()
        self.ls2 = LayerScale(dim) if layerscale else nn.Identity()

    def forward(self, x, valid):
        h = x + self.ls1(self.attn(self.norm1(x), valid))
        return h + self.ls2(self.ff(self.norm2(h)))


class Encoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d = cfg["dim"]
        ls = cfg.get("layerScaleInit", 1e-3) is not None
        self.layers = nn.ModuleList(
            Block(d, cfg["heads"], cfg.get("ffMult", 2), ls) for _ in range(cfg["layers"])
        )
        self.registers = nn.Parameter(T.zeros(cfg["registers"], d)) if cfg["registers"] else None
        self.norm = nn.LayerNorm(d) if cfg.get("finalNorm") else None

    def forward(self, x, valid):
        if self.registers is not None:
            B, R = x.shape[0], self.registers.shape[0]
            x = T.cat([self.registers.expand(B, R, -1), x], 1)
            valid = T.cat([T.ones(B, R, dtype=T.bool, device=x.device), valid], 1)
        for blk in self.layers:
            x = blk(x, valid)
        if self.norm is not None:
            x = self.norm(x)
        return x, valid


class Embedding(nn.Module):
    def __init__(self, features: int, dim: int, use_ids: bool):
        super().__init__()
        self.linear = nn.Linear(features, dim)
        self.types = nn.Embedding(8, dim) if use_ids else None

    def forward(self, x, ids):
        h = self.linear(x)
        return h + self.types(ids.long()) if self.types is not None else h


class MPMBackbone(nn.Module):
    """Particle embedding + encoder. forward(x, ids, valid) -> (tokens (B, R+N, D), pooled (B, D));
    pooled is the mean over registers and real particles, as `deno task embed`'s jet_embedding."""

    def __init__(self, info: "BackboneInfo"):
        super().__init__()
        self.registers = info.encoder["registers"]
        self.embed = Embedding(len(info.features), info.encoder["dim"], info.use_ids)
        self.encoder = Encoder(info.encoder)

    def forward(self, x, ids, valid):
        tokens, v = self.encoder(self.embed(x, ids), valid.bool())
        w = v.to(tokens.dtype)[..., None]
        pooled = (tokens * w).sum(1) / w.sum(1).clamp_min(1)
        return tokens, pooled

    def particles(self, tokens, valid):
        """Per-particle outputs without the registers, zero at padded slots."""
        return tokens[:, self.registers:] * valid.to(tokens.dtype)[..., None]


@dataclass
class BackboneInfo:
    encoder: dict
    features: list
    use_ids: bool
    max_particles: int
    preprocessor: object


def load_backbone(path: str) -> tuple[MPMBackbone, BackboneInfo]:
    """The backbone of `path` in eval mode, and what it expects."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not an @mpm/webgpu backbone (format {meta.get('format')!r})")
    info = BackboneInfo(
        encoder=json.loads(meta["encoder"]),
        features=json.loads(meta["features"]),
        use_ids=meta["useIds"] == "true",
        max_particles=int(meta["maxParticles"]),
        preprocessor=preprocessor_from_json(json.loads(meta["preprocessor"])),
    )
    model = MPMBackbone(info)
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    return model.eval(), info


REFERENCE_NAMES = [
    (r"^embed\.linear\.", "csts_emb."),
    (r"^embed\.types\.", "csts_id_emb."),
    (r"^encoder\.layers\.(\d+)\.norm1\.", r"encoder.layers.\1.attn.norm."),
    (r"^encoder\.layers\.(\d+)\.attn\.in_proj\.", r"encoder.layers.\1.attn.fn.attn_in."),
    (r"^encoder\.layers\.(\d+)\.attn\.out_proj\.", r"encoder.layers.\1.attn.fn.attn_out."),
    (r"^encoder\.layers\.(\d+)\.ls1\.", r"encoder.layers.\1.attn.ls."),
    (r"^encoder\.layers\.(\d+)\.norm2\.", r"encoder.layers.\1.ff.norm."),
    (r"^encoder\.layers\.(\d+)\.ff\.lin", r"encoder.layers.\1.ff.fn.lin"),
    (r"^encoder\.layers\.(\d+)\.ls2\.", r"encoder.layers.\1.ff.ls."),
    (r"^encoder\.norm\.", "encoder.final_norm."),
]


def reference_state_dict(state: dict[str, T.Tensor]) -> dict[str, T.Tensor]:
    """Our names -> the reference's module names (registers get the batch axis, (1, R, D))."""
    out = {}
    for k, v in state.items():
        name = k
        for pat, rep in REFERENCE_NAMES:
            name = re.sub(pat, rep, name)
        out[name] = v.unsqueeze(0) if k == "encoder.registers" else v
    return out


# --------------------------------------------------------------------------- command line -------
def read_jets(path: str, features: list, max_particles: int, n: int | None):
    import h5py

    with h5py.File(path, "r") as f:
        stop = n if n else f["csts"].shape[0]
        csts = f["csts"][:stop].astype(np.float64)
        mask = f["mask"][:stop].astype(bool)
        ids = f["csts_id"][:stop].astype(np.int64) if "csts_id" in f else np.zeros(mask.shape, np.int64)
        names = f["csts"].attrs.get("features")
    names = names.decode() if isinstance(names, bytes) else names
    have = names.split(",") if names else (["pt", "deta", "dphi", "d0", "d0err", "dz", "dzerr"][: csts.shape[-1]])
    cols = [have.index(f) for f in features]
    csts, mask, ids = csts[..., cols], mask, ids
    if csts.shape[1] > max_particles:
        if mask[:, max_particles:].any():
            raise ValueError(f"{path}: jets longer than the backbone's {max_particles} particles")
        csts, mask, ids = csts[:, :max_particles], mask[:, :max_particles], ids[:, :max_particles]
    ids = np.where(mask, ids, 0)
    return csts, mask, ids


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("embed", help="embed the jets of an HDF5 file")
    e.add_argument("--backbone", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--jets", type=int)
    e.add_argument("--batch", type=int, default=256)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--no-neutral-noise", action="store_true")
    r = sub.add_parser("reference-names", help="write the weights under the reference's names")
    r.add_argument("--backbone", required=True)
    r.add_argument("--out", required=True)
    a = p.parse_args()
    model, info = load_backbone(a.backbone)
    if a.cmd == "reference-names":
        T.save(reference_state_dict(model.state_dict()), a.out)
        print(f"wrote {a.out}")
        return
    csts, mask, ids = read_jets(a.data, info.features, info.max_particles, a.jets)
    rng = None if a.no_neutral_noise else np.random.default_rng(a.seed)
    x = info.preprocessor.transform(csts, mask, ids, rng)
    jet, part = [], []
    with T.no_grad():
        for s in range(0, len(x), a.batch):
            v = T.from_numpy(mask[s : s + a.batch])
            tokens, pooled = model(T.from_numpy(x[s : s + a.batch]), T.from_numpy(ids[s : s + a.batch]), v)
            jet.append(pooled.numpy())
            part.append(model.particles(tokens, v).numpy())
    np.savez(a.out, jet_embedding=np.concatenate(jet), particle_embedding=np.concatenate(part),
             mask=mask.astype(np.int8))
    print(f"wrote {a.out} ({len(x)} jets)")


if __name__ == "__main__":
    main()
