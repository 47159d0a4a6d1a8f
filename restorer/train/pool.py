"""A pool of degraded training pairs, computed once, kept on disk as uint8 and memory-mapped.

Degrading a patch (:mod:`restorer.degradations`) costs 1-10 ms of CPU; done per
sample in data-loader workers it takes a core away from the training step on a
2-core machine. The pool computes ``size`` (LR, HR) pairs once, writes them as
uint8 arrays (``hr.u8`` (size, H, H, 3), ``lr.u8`` (size, h, h, 3)), and the
training step reads them through ``numpy.memmap`` with a random dihedral
transform (8 flips/rotations, the same on every image of a sample). Each epoch
(``size / batch`` steps) a fraction of the slots is replaced by new pairs
(:meth:`PairPool.refresh`), so the model keeps seeing new degradations.

Contents are a pure function of the source's seed: slot ``k`` first holds
sample ``k`` of the source (a :class:`restorer.train.data.PatchDataset`); the
``e``-th refresh (e = 1, 2, ...) writes samples ``size + (e - 1) * n + j`` into
slots ``((e - 1) * n + j) % size``, ``j < n``. A run resumed at any step
rebuilds the same pool. ``meta.json`` records how far the build and the
refreshes got, so an interrupted build resumes.

With a ``teacher`` (issue 11's teacher term, :mod:`restorer.train.teacher`), every pair written also
gets the teacher's output on its LR patch (``teacher.u8``, same shape as ``hr.u8``), computed once
here instead of at every step.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np
import torch

__all__ = ["PairPool", "PoolDataset"]

_SOURCE = None  # the source dataset of the worker processes (inherited by fork)


def _init_worker() -> None:
    torch.set_num_threads(1)
    # forked from a training loop whose SIGTERM handler raises KeyboardInterrupt: restore the default,
    # or Pool.terminate() at the end of each refresh prints a traceback per worker
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _to_u8(t: torch.Tensor) -> np.ndarray:
    """(..., 3, h, w) float in [0, 1] -> (..., h, w, 3) uint8, rounded."""
    return (t.clamp(0, 1).movedim(-3, -1).numpy() * 255.0 + 0.5).astype(np.uint8)


def _make_pair(index: int) -> tuple[int, np.ndarray, np.ndarray]:
    lr, hr = _SOURCE[index]
    return index, _to_u8(lr), _to_u8(hr)


class PairPool:
    """Fixed-size on-disk pool of (LR, HR) uint8 pairs of one source.

    Args:
        folder: directory of the pool (created); ``hr.u8``, ``lr.u8``, ``meta.json`` (and ``teacher.u8``).
        source: indexable ``i -> (lr, hr)`` float tensors (3, h, h), (3, H, H) in
            [0, 1], such as :class:`restorer.train.data.PatchDataset`; sample ``i``
            must be a function of ``i`` alone.
        size: number of pairs.
        key: description of the source (photos, degradation, seed, sizes); a pool
            on disk with another key is refused.
        workers: processes that compute pairs (fork; 0 = in this process).
        teacher: optional ``(n, 3, h, h) -> (n, 3, H, H)`` float [0, 1] model (no grad needed);
            its outputs on the LR patches are kept in ``teacher.u8``. Name it in ``key``.
        teacher_batch: LR patches per teacher call.

    Raises:
        ValueError: ``folder`` holds a pool of another key or size.
    """

    def __init__(self, folder: str | Path, source, size: int, key: dict, workers: int = 2,
                 teacher=None, teacher_batch: int = 16):
        self.folder = Path(folder)
        self.source, self.size, self.workers = source, int(size), int(workers)
        self.teacher_fn, self.teacher_batch = teacher, int(teacher_batch)
        lr0, hr0 = source[0]
        self.hr_shape = (self.size, hr0.shape[1], hr0.shape[2], 3)
        self.lr_shape = (self.size, lr0.shape[1], lr0.shape[2], 3)
        self.key = {**key, "size": self.size, "hr_shape": list(self.hr_shape[1:]), "lr_shape": list(self.lr_shape[1:])}
        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path = self.folder / "meta.json"
        if meta_path.exists():
            self.meta = json.loads(meta_path.read_text())
            if self.meta["key"] != self.key:
                raise ValueError(f"{self.folder}: a pool of another source is there "
                                 f"({self.meta['key']} != {self.key}); delete it or choose another folder")
        else:
            self.meta = {"key": self.key, "filled": 0, "refreshes": 0}
        def array(name: str, shape: tuple) -> np.memmap:
            path = self.folder / name
            return np.memmap(path, dtype=np.uint8, mode="r+" if path.exists() else "w+", shape=shape)

        self.hr, self.lr = array("hr.u8", self.hr_shape), array("lr.u8", self.lr_shape)
        self.teacher = array("teacher.u8", self.hr_shape) if teacher is not None else None

    def _save_meta(self) -> None:
        tmp = self.folder / "meta.json.tmp"
        tmp.write_text(json.dumps(self.meta, indent=1))
        os.replace(tmp, self.folder / "meta.json")

    def _fill(self, pairs: list[tuple[int, int]]) -> None:
        """Write source sample ``i`` into slot ``k`` for each ``(k, i)``."""
        global _SOURCE
        slot_of = dict((i, k) for k, i in pairs)
        indices = [i for _, i in pairs]
        _SOURCE = self.source
        try:
            if self.workers > 0:
                ctx = multiprocessing.get_context("fork")
                with ctx.Pool(self.workers, initializer=_init_worker) as procs:
                    results = procs.imap_unordered(_make_pair, indices, chunksize=16)
                    for i, lr, hr in results:
                        self.lr[slot_of[i]], self.hr[slot_of[i]] = lr, hr
            else:
                for i in indices:
                    _, lr, hr = _make_pair(i)
                    self.lr[slot_of[i]], self.hr[slot_of[i]] = lr, hr
        finally:
            _SOURCE = None
        if self.teacher is not None:
            slots = sorted(k for k, _ in pairs)
            for j in range(0, len(slots), self.teacher_batch):
                ks = slots[j:j + self.teacher_batch]
                lr = torch.from_numpy(self.lr[ks]).permute(0, 3, 1, 2).float() / 255.0
                with torch.inference_mode():
                    self.teacher[ks] = _to_u8(self.teacher_fn(lr))
            self.teacher.flush()
        self.hr.flush()
        self.lr.flush()

    def build(self, chunk: int = 1024, progress: bool = False) -> "PairPool":
        """Compute the slots not yet filled (slot ``k`` = source sample ``k``); resumable by chunk."""
        bar = None
        if progress and self.meta["filled"] < self.size:
            from tqdm import tqdm

            bar = tqdm(total=self.size, initial=self.meta["filled"], desc="pool", unit="pair")
        while self.meta["filled"] < self.size:
            start = self.meta["filled"]
            stop = min(start + chunk, self.size)
            self._fill([(k, k) for k in range(start, stop)])
            self.meta["filled"] = stop
            self._save_meta()
            if bar is not None:
                bar.update(stop - start)
        if bar is not None:
            bar.close()
        return self

    def refresh_to(self, refreshes: int, fraction: float) -> int:
        """Apply refreshes ``meta["refreshes"] + 1 .. refreshes``, each replacing
        ``round(fraction * size)`` slots (see the module docstring); return the
        number of pairs written."""
        n = max(1, round(fraction * self.size)) if fraction > 0 else 0
        written = 0
        while n and self.meta["refreshes"] < refreshes:
            e = self.meta["refreshes"] + 1
            first = (e - 1) * n
            self._fill([((first + j) % self.size, self.size + first + j) for j in range(n)])
            self.meta["refreshes"] = e
            self._save_meta()
            written += n
        return written


class PoolDataset(torch.utils.data.Dataset):
    """Index -> (LR, HR) or (LR, HR, teacher) from a :class:`PairPool`: a seeded random slot and dihedral transform.

    Sample ``i`` uses ``numpy.random.default_rng([seed, i])`` to pick a slot and
    one of the 8 flips/rotations. Returns float32 CPU tensors (3, h, h), (3, H, H)
    (and the teacher's (3, H, H) when the pool has one, in the same view)
    in [0, 1], multiples of 1/255. ``len()`` is 2**62 (use
    :class:`restorer.train.data.StepSampler`).
    """

    def __init__(self, pool: PairPool, seed: int = 0):
        self.pool, self.seed = pool, seed

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        rng = np.random.default_rng([self.seed, int(index)])
        k = int(rng.integers(self.pool.size))
        t = int(rng.integers(8))

        def view(a: np.ndarray) -> torch.Tensor:
            if t & 4:
                a = a[:, ::-1]
            a = np.rot90(a, k=t & 3)
            return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255.0

        if self.pool.teacher is not None:
            return view(self.pool.lr[k]), view(self.pool.hr[k]), view(self.pool.teacher[k])
        return view(self.pool.lr[k]), view(self.pool.hr[k])
