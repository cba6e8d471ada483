"""Writes tests/fixtures/h5py_{jetclass,btag}.h5 with h5py, in exactly the reference layouts
(mattcleigh/jetssl make_jetclass.py / make_shlomi.py): int64 ids and labels, h5py boolean
masks (HDF5 enum int8 FALSE/TRUE), float64 JetClass jets, float32 BTag jets.

Run with Debian's python3-h5py:  /usr/bin/python3 tools/make_h5py_fixtures.py
"""
import h5py
import numpy as np

rng = np.random.default_rng(1234)


def particles(n_jets, n_slots, counts):
    csts = np.zeros((n_jets, n_slots, 7), dtype=np.float32)
    ids = np.zeros((n_jets, n_slots), dtype=np.int64)
    mask = np.zeros((n_jets, n_slots), dtype=bool)
    for j, c in enumerate(counts):
        pt = np.sort(rng.exponential(10.0, c) + 0.5)[::-1]
        csts[j, :c, 0] = pt
        csts[j, :c, 1:3] = rng.normal(0, 0.2, (c, 2))
        csts[j, :c, 3:] = np.abs(rng.normal(0, 0.05, (c, 4)))
        ids[j, :c] = rng.integers(0, 8, c)
        mask[j, :c] = True
    return csts, ids, mask


counts = [3, 128, 1, 40, 17, 77]
csts, ids, mask = particles(6, 128, counts)
jets = np.concatenate([rng.uniform(500, 1000, (6, 4)).astype(np.float32), mask.sum(-1, keepdims=True)], axis=-1)
with h5py.File("tests/fixtures/h5py_jetclass.h5", "w") as f:
    f.create_dataset("csts", data=csts)
    f.create_dataset("csts_id", data=ids)
    f.create_dataset("mask", data=mask)
    f.create_dataset("labels", data=np.array([0, 2, 9, 5, 3, 1], dtype=np.int64))
    f.create_dataset("jets", data=jets)  # float64, as float32 + int64 concatenation promotes

counts = [2, 15, 5, 9, 1]
csts, ids, mask = particles(5, 15, counts)
vtx_id = np.where(mask, rng.integers(0, 3, (5, 15)), 0).astype(np.int64)
track_type = np.where(mask, rng.integers(0, 4, (5, 15)), -1).astype(np.int64)
with h5py.File("tests/fixtures/h5py_btag.h5", "w") as f:
    f.create_dataset("csts", data=csts)
    f.create_dataset("csts_id", data=ids)
    f.create_dataset("mask", data=mask)
    f.create_dataset("labels", data=np.array([0, 1, 2, 2, 0], dtype=np.int64))
    f.create_dataset("jets", data=rng.uniform(20, 200, (5, 5)).astype(np.float32))
    f.create_dataset("vtx_id", data=vtx_id)
    f.create_dataset("track_type", data=track_type)
    f.create_dataset("vtx_pos", data=rng.normal(0, 1, (5, 3, 4)).astype(np.float32))
print("wrote tests/fixtures/h5py_jetclass.h5 and tests/fixtures/h5py_btag.h5")
