"""PyTorch peer for small labelled sets: a plain set transformer trained from scratch.

The same jets as `deno task finetune --backbone random --finetune` (our HDF5 layout, read with
h5py: `csts`, `mask`, `csts_id`, `labels`), the same size as the library's small backbone (3
pre-norm layers, width 64, 4 heads, feed-forward 2x), masked mean pooling and a linear head.
Inputs: log pT, the other features standardised on the training jets' particles, and a one-hot
particle type when the file has types. AdamW (lr 1e-3, weight decay 1e-5), cosine schedule,
cross-entropy, a fixed number of epochs; the epoch with the best validation loss is evaluated on
the test file.

Prints one JSON line: {"accuracy", "auc", "epochs", "best_epoch", "n_train", "seed", "seconds",
"torch", "threads"}. `auc` is the mean one-vs-rest AUC over classes, as the library's `auc`.
Usage: python3 bench/peers/small_classifier.py --train T.h5 --val V.h5 --test S.h5 --n-train N
       [--epochs 40] [--seed 0] [--batch 64] [--lr 1e-3] [--max-eval-jets 2000]
"""
import argparse
import json
import time

import h5py
import numpy as np
import torch
import torch.nn as nn


def load(path, n=None):
    with h5py.File(path, "r") as f:
        n = f["labels"].shape[0] if n is None else min(n, f["labels"].shape[0])
        x = f["csts"][:n].astype(np.float32)
        mask = f["mask"][:n].astype(bool)
        ids = f["csts_id"][:n].astype(np.int64) if "csts_id" in f else None
        y = f["labels"][:n].astype(np.int64)
        features = f["csts"].attrs.get("features", "")
        if isinstance(features, bytes):
            features = features.decode()
    return x, mask, ids, y, str(features).split(",")


class Standardiser:
    """log pT, then each feature's mean and standard deviation over the training particles."""

    def __init__(self, x, mask, features):
        self.pt = features.index("pt") if "pt" in features else None
        z = self.raw(x)[mask]
        self.mu, self.sd = z.mean(0), z.std(0) + 1e-6

    def raw(self, x):
        x = x.copy()
        if self.pt is not None:
            x[..., self.pt] = np.log(np.maximum(x[..., self.pt], 1e-3))
        return x

    def __call__(self, x, mask, ids):
        z = (self.raw(x) - self.mu) / self.sd
        z[~mask] = 0
        if ids is not None:
            z = np.concatenate([z, np.eye(8, dtype=np.float32)[np.clip(ids, 0, 7)]], -1)
        return torch.from_numpy(z.astype(np.float32)), torch.from_numpy(mask)


class SetTransformer(nn.Module):
    def __init__(self, inputs, classes, dim=64, layers=3, heads=4):
        super().__init__()
        self.embed = nn.Linear(inputs, dim)
        layer = nn.TransformerEncoderLayer(
            dim, heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x, mask):
        h = self.encoder(self.embed(x), src_key_padding_mask=~mask)
        h = self.norm(h) * mask[..., None]
        return self.head(h.sum(1) / mask.sum(1, keepdim=True).clamp(min=1))


def auc_one_vs_rest(scores, y, c):
    pos = scores[y == c]
    neg = scores[y != c]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--n-train", type=int, required=True)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-eval-jets", type=int, default=2000)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    t0 = time.time()
    xtr, mtr, itr, ytr, feats = load(a.train, a.n_train)
    std = Standardiser(xtr, mtr, feats)
    classes = int(max(ytr.max(), load(a.test, a.max_eval_jets)[3].max()) + 1)
    Xtr, Mtr = std(xtr, mtr, itr)
    Ytr = torch.from_numpy(ytr)
    xv, mv, iv, yv, _ = load(a.val, a.max_eval_jets)
    Xv, Mv = std(xv, mv, iv)
    xs, ms, is_, ys, _ = load(a.test, a.max_eval_jets)
    Xs, Ms = std(xs, ms, is_)
    model = SetTransformer(Xtr.shape[-1], classes)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-5)
    steps = a.epochs * ((len(Ytr) + a.batch - 1) // a.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    loss_fn = nn.CrossEntropyLoss()
    best, best_state, best_epoch = float("inf"), None, 0
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(Ytr))
        for s in range(0, len(Ytr), a.batch):
            idx = perm[s : s + a.batch]
            loss = loss_fn(model(Xtr[idx], Mtr[idx]), Ytr[idx])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            vl = float(loss_fn(model(Xv, Mv), torch.from_numpy(yv)))
        if vl < best:
            best, best_epoch = vl, epoch + 1
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        logits = model(Xs, Ms).numpy()
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    aucs = [auc_one_vs_rest(probs[:, c], ys, c) for c in range(classes)]
    aucs = [v for v in aucs if np.isfinite(v)]
    print(
        json.dumps(
            {
                "accuracy": float((logits.argmax(1) == ys).mean()),
                "auc": float(np.mean(aucs)),
                "epochs": a.epochs,
                "best_epoch": best_epoch,
                "n_train": int(len(Ytr)),
                "seed": a.seed,
                "seconds": time.time() - t0,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
