"""PyTorch peer of @mpm/webgpu's SSFM whole-jet generation, for `deno task bench --only ssfm`.

Same model as src/mpm/ssfm.ts with the small preset's shapes: the encoder (64 wide, 3 blocks, 8
registers) runs once on empty jets (registers only) and its outputs are projected to the decoder
width as the context; the velocity network is the reference's time embedding (cosine encoding
cos(pi t e^k), k < 32, then an MLP 32 -> 128 -> 128 -> 32 with SiLU and LayerNorm), an input
projection of the state (7 features + 8 type scores), `layers` adaLN blocks (modulation
Linear(32, 9D) of SiLU(time); self-attention over the generated set, cross-attention to the
context, SwiGLU x2, each on a modulated LayerNorm and added through a gate), a final LayerNorm
and an output projection. Midpoint integration from noise (t = 1) to data (t = 0): two velocity
passes per step, no gradients; the states are copied to the host at the end.

Prints one JSON line: {"batch", "particles", "steps", "jets_per_s", "passes_per_s", "threads",
"torch", "device"}.
Usage: python3 bench/peers/ssfm_torch.py --batch B --particles N --steps S [--device cpu|cuda]
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from mpm_torch import Block as EncoderBlock  # the encoder block of the pre-training peer


def attention(q, k, v, valid, h):
    b, nq, d = q.shape
    q = q.view(b, nq, h, d // h).transpose(1, 2)
    k = k.view(b, -1, h, d // h).transpose(1, 2)
    v = v.view(b, -1, h, d // h).transpose(1, 2)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(d // h)
    s = s.masked_fill(~valid[:, None, None, :], float("-inf"))
    return (torch.softmax(s, -1).nan_to_num(0.0) @ v).transpose(1, 2).reshape(b, nq, d)


class AdaLNCrossBlock(nn.Module):
    def __init__(self, d, h, cond=32):
        super().__init__()
        self.h = h
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.q, self.kv, self.cout = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.l1, self.l2 = nn.Linear(d, 4 * d), nn.Linear(2 * d, d)
        self.mod = nn.Linear(cond, 9 * d)
        nn.init.normal_(self.mod.weight, std=0.02)  # non-zero, so every term does work

    def forward(self, x, valid, ctx, ctx_valid, cond):
        m = self.mod(F.silu(cond))[:, None, :].chunk(9, -1)
        norm = lambda t: F.layer_norm(t, t.shape[-1:])
        mod = lambda t, scale, shift: norm(t) * (1 + scale) + shift
        q, k, v = self.qkv(mod(x, m[1], m[0])).chunk(3, -1)
        x = x + m[2] * self.out(attention(q, k, v, valid, self.h))
        k, v = self.kv(ctx).chunk(2, -1)
        x = x + m[5] * self.cout(attention(self.q(mod(x, m[4], m[3])), k, v, ctx_valid, self.h))
        u, g = self.l1(mod(x, m[7], m[6])).chunk(2, -1)
        return x + m[8] * self.l2(F.silu(u) * g)


def time_features(t, n=32):
    k = torch.arange(n, dtype=torch.float32, device=t.device)
    return torch.cos(math.pi * t[:, None] * torch.exp(k))


def time_mlp(dims=(32, 128, 128, 32)):
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers += [nn.SiLU(), nn.LayerNorm(dims[i + 1])]
    return nn.Sequential(*layers)


class SSFM(nn.Module):
    def __init__(self, de=64, le=3, he=4, d=64, layers=3, h=4, width=15, registers=8):
        super().__init__()
        self.reg = nn.Parameter(torch.randn(registers, de) * 1e-3)
        self.enc = nn.ModuleList([EncoderBlock(de, he) for _ in range(le)])
        self.context = nn.Linear(de, d)
        self.time = time_mlp()
        self.input = nn.Linear(width, d)
        self.blocks = nn.ModuleList([AdaLNCrossBlock(d, h) for _ in range(layers)])
        self.norm, self.output = nn.LayerNorm(d), nn.Linear(d, width)

    def encode(self, b):
        h = self.reg.expand(b, -1, -1)
        valid = torch.ones(b, h.shape[1], dtype=torch.bool, device=h.device)
        for blk in self.enc:
            h = blk(h, valid)
        return self.context(h), valid

    def velocity(self, x, valid, ctx, ctx_valid, t):
        cond = self.time(time_features(t))
        h = self.input(x)
        for blk in self.blocks:
            h = blk(h, valid, ctx, ctx_valid, cond)
        return self.output(self.norm(h))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--particles", type=int, default=40)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = SSFM().to(a.device).eval()
    b, n = a.batch, a.particles
    valid = torch.ones(b, n, dtype=torch.bool, device=a.device)

    @torch.no_grad()
    def generate(steps):
        ctx, ctx_valid = model.encode(b)
        x = torch.randn(b, n, 15, device=a.device)
        dt = -1.0 / steps
        for i in range(steps):
            t0 = 1 + i * dt
            t = torch.full((b,), t0, device=a.device)
            mid = x + (dt / 2) * model.velocity(x, valid, ctx, ctx_valid, t)
            x = x + dt * model.velocity(mid, valid, ctx, ctx_valid, t + dt / 2)
        return x.cpu()

    generate(2)
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        generate(a.steps)
        times.append(time.perf_counter() - t0)
    dt = min(times)
    print(json.dumps({"batch": b, "particles": n, "steps": a.steps, "jets_per_s": b / dt, "passes_per_s": 2 * a.steps * b / dt, "threads": torch.get_num_threads(), "torch": torch.__version__, "device": a.device}))


if __name__ == "__main__":
    main()
