"""PyTorch peer of the @mpm/webgpu MPMv2 pre-training step, for `deno task bench`.

Same model as src/mpm/model.ts (MAE pass): particle embedding (linear + type table), an encoder
of pre-norm blocks (masked multi-head attention, SwiGLU x2, LayerScale 1e-3) with registers on
the kept particles, projection to the decoder width, ordered mask tokens by pT rank, a decoder of
the same blocks over registers + kept + mask tokens, ID (CE, smoothing 0.1, weight 0.3) and
regression (L1) heads, AdamW with clipping. Jets have `n` real particles each; 40 % dropped.

Prints one JSON line: {"preset", "mode", "batch", "jets_per_s", "step_s", "threads", "torch",
"device", "blas", "amp", "sdpa"}.
Usage: python3 bench/peers/mpm_torch.py --preset small|paper --batch B [--steps S] [--particles N]
       [--mode pretrain|embed|finetune] [--device cpu|cuda] [--amp bf16] [--sdpa]

--mode embed times the encoder's forward pass alone on whole jets (no gradients, `deno task
embed`); --mode finetune a classification step: the encoder on whole jets, the class-attention
head of src/heads/heads.ts (projection to 128, a class token, two class-attention layers with
SwiGLU, 10 outputs), cross-entropy, backward through both, AdamW with clipping.

--amp bf16 runs the forward pass under torch.autocast(bfloat16) (fp32 master weights, as the
reference trains in mixed precision); --sdpa uses torch's fused scaled_dot_product_attention
(PyTorch >= 2.0) instead of the explicit softmax. Without them the step is fp32 eager, the same
arithmetic as the WebGPU library.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "small": dict(enc=(64, 3, 4), dec=(32, 2, 2), registers=8),
    "paper": dict(enc=(512, 8, 8), dec=(128, 4, 4), registers=8),
}


SDPA = False


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.l1, self.l2 = nn.Linear(d, 4 * d), nn.Linear(2 * d, d)
        self.g1 = nn.Parameter(torch.full((d,), 1e-3))
        self.g2 = nn.Parameter(torch.full((d,), 1e-3))

    def forward(self, x, valid):
        b, n, d = x.shape
        q, k, v = self.qkv(self.n1(x)).view(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        if SDPA:
            # Every row has at least the registers as valid keys, so no row is fully masked.
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=valid[:, None, None, :])
            a = a.transpose(1, 2).reshape(b, n, d)
        else:
            s = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.h)
            s = s.masked_fill(~valid[:, None, None, :], float("-inf"))
            a = (torch.softmax(s, -1).nan_to_num(0.0) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.g1 * self.out(a)
        u, g = self.l1(self.n2(x)).chunk(2, -1)
        return x + self.g2 * self.l2(F.silu(u) * g)


class MPM(nn.Module):
    def __init__(self, p, feats=7, nmax=128):
        super().__init__()
        (de, le, he), (dd, ld, hd) = p["enc"], p["dec"]
        self.r = p["registers"]
        self.emb, self.types = nn.Linear(feats, de), nn.Embedding(8, de)
        self.reg = nn.Parameter(torch.randn(self.r, de) * 1e-3)
        self.enc = nn.ModuleList([Block(de, he) for _ in range(le)])
        self.proj = nn.Linear(de, dd)
        self.tokens = nn.Parameter(torch.randn(nmax, dd) * 1e-3)
        self.dec = nn.ModuleList([Block(dd, hd) for _ in range(ld)])
        self.id_head, self.reg_head = nn.Linear(dd, 8), nn.Linear(dd, feats)

    def forward(self, x, ids, valid, dropped, rank):
        b, n, _ = x.shape
        kept = valid & ~dropped
        nk = int(kept.sum(1).max())
        order = torch.argsort((~kept).int(), dim=1, stable=True)[:, :nk]  # kept first, in slot order
        xk, ik = x.gather(1, order[..., None].expand(-1, -1, x.shape[2])), ids.gather(1, order)
        kv = kept.gather(1, order)
        h = torch.cat([self.reg.expand(b, -1, -1), self.emb(xk) + self.types(ik)], 1)
        dev = x.device
        hv = torch.cat([torch.ones(b, self.r, dtype=torch.bool, device=dev), kv], 1)
        for blk in self.enc:
            h = blk(h, hv)
        p = self.proj(h)
        dec = torch.zeros(b, self.r + n, p.shape[2], device=dev)
        dec[:, : self.r] = p[:, : self.r]
        slots = torch.where(kv, order, torch.full_like(order, n))  # scatter kept outputs back
        dec_p = torch.zeros(b, n + 1, p.shape[2], device=dev)
        dec_p.scatter_(1, slots[..., None].expand(-1, -1, p.shape[2]), p[:, self.r :])
        dec[:, self.r :] = dec_p[:, :n]
        dec[:, self.r :][dropped] = self.tokens[rank[dropped]]
        dv = torch.cat([torch.ones(b, self.r, dtype=torch.bool, device=dev), valid], 1)
        for blk in self.dec:
            dec = blk(dec, dv)
        out = dec[:, self.r :][dropped]
        return out


class ClassLayer(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.kv, self.o = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.l1, self.l2 = nn.Linear(d, 2 * d), nn.Linear(d, d)

    def forward(self, g, kv_in, valid):
        b, _, d = g.shape
        q = self.q(self.n1(g)).view(b, 1, self.h, d // self.h).transpose(1, 2)
        k, v = self.kv(kv_in).view(b, -1, 2, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.h)
        s = s.masked_fill(~valid[:, None, None, :], float("-inf"))
        a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(b, 1, d)
        g = g + self.o(a)
        u, gate = self.l1(self.n2(g)).chunk(2, -1)
        return g + self.l2(F.silu(u) * gate)


class ClassHead(nn.Module):
    """The library's ClassAttentionHead: tokens -> 128, a class token attending twice, logits."""

    def __init__(self, d_in, classes, d=128, h=4):
        super().__init__()
        self.proj = nn.Linear(d_in, d)
        self.cls = nn.Parameter(torch.randn(1, 1, d))
        self.layers = nn.ModuleList([ClassLayer(d, h) for _ in range(2)])
        self.out = nn.Linear(d, classes)

    def forward(self, tokens, valid):
        kv = self.proj(tokens)
        g = self.cls.expand(tokens.shape[0], -1, -1)
        for layer in self.layers:
            g = layer(g, kv, valid)
        return self.out(g[:, 0])


def encode(model, x, ids, valid):
    """The backbone on whole jets: registers + embedded particles through the encoder."""
    b = x.shape[0]
    h = torch.cat([model.reg.expand(b, -1, -1), model.emb(x) + model.types(ids)], 1)
    hv = torch.cat([torch.ones(b, model.r, dtype=torch.bool, device=x.device), valid], 1)
    for blk in model.enc:
        h = blk(h, hv)
    return h, hv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--particles", type=int, default=40)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", choices=["none", "bf16"], default="none")
    ap.add_argument("--sdpa", action="store_true")
    ap.add_argument("--mode", choices=["pretrain", "embed", "finetune"], default="pretrain")
    a = ap.parse_args()
    global SDPA
    SDPA = a.sdpa
    if SDPA and not hasattr(F, "scaled_dot_product_attention"):
        raise SystemExit(f"--sdpa needs PyTorch >= 2.0 (this is {torch.__version__})")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = MPM(PRESETS[a.preset]).to(a.device)
    head = ClassHead(PRESETS[a.preset]["enc"][0], 10).to(a.device)
    params = list(model.parameters()) + (list(head.parameters()) if a.mode == "finetune" else [])
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-5)
    b, n = a.batch, a.particles
    x, ids = torch.randn(b, n, 7), torch.randint(0, 8, (b, n))
    valid = torch.ones(b, n, dtype=torch.bool)
    k = int(0.4 * n)
    dropped = torch.zeros(b, n, dtype=torch.bool)
    rank = torch.zeros(b, n, dtype=torch.long)
    for j in range(b):
        sel = torch.randperm(n)[:k].sort().values
        dropped[j, sel] = True
        rank[j, sel] = torch.arange(k)

    labels = torch.randint(0, 10, (b,))

    def autocast():
        return torch.autocast(device_type=a.device.split(":")[0], dtype=torch.bfloat16, enabled=a.amp == "bf16")

    def step():
        if a.mode == "embed":
            with torch.no_grad(), autocast():
                h, hv = encode(model, x, ids, valid)
                pooled = (h * hv[..., None]).sum(1) / hv.sum(1, keepdim=True)
            # deno task embed returns per-particle features and the pooled vector on the host.
            h.float().cpu(), pooled.float().cpu()
            return
        with autocast():
            if a.mode == "finetune":
                h, hv = encode(model, x, ids, valid)
                loss = F.cross_entropy(head(h, hv), labels)
            else:
                out = model(x, ids, valid, dropped, rank)
                loss = 0.3 * F.cross_entropy(model.id_head(out), ids[dropped], label_smoothing=0.1) + F.l1_loss(model.reg_head(out), x[dropped])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    def sync():
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()

    x, ids, valid, dropped, rank, labels = (t.to(a.device) for t in (x, ids, valid, dropped, rank, labels))
    step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    dt = (time.perf_counter() - t0) / a.steps
    print(json.dumps({"preset": a.preset, "mode": a.mode, "batch": b, "jets_per_s": b / dt, "step_s": dt, "threads": torch.get_num_threads(), "torch": torch.__version__, "device": a.device, "blas": blas(), "amp": a.amp, "sdpa": a.sdpa}))


def blas():
    """The BLAS torch was built with (what a CPU figure depends on), from its build config."""
    for line in torch.__config__.show().splitlines():
        line = line.strip()
        if line.startswith("- BLAS_INFO=") or "BLAS_INFO=" in line:
            return line.split("BLAS_INFO=")[1].split(",")[0]
    return "unknown"


if __name__ == "__main__":
    main()
