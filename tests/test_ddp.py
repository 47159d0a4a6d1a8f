"""Distributed training: two CPU processes with Gloo (torch.multiprocessing) take a few DDP steps."""
from __future__ import annotations

import csv
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

pytestmark = pytest.mark.slow  # two spawned processes train two stages


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data: str, out: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from restorer.train.loop import TrainConfig, train

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    # one process group for both stages (train() uses a running group as is); re-creating it on the
    # same port between stages could let a fast rank reach the previous store
    torch.distributed.init_process_group("gloo")
    base = dict(data=data, num_feat=8, num_conv=2, batch=4, hr_size=32, lr=1e-3, ckpt_every=1000,
                log_every=1, threads=1, degradation="first", p_clean=0.5, device="cpu")
    states = {}
    for stage, steps, extra in (("psnr", 40, {}), ("gan", 3, {"d_feat": 8})):
        st: dict = {}
        init = str(Path(out) / "psnr" / "last.pt") if stage == "gan" else ""
        train(TrainConfig(out=str(Path(out) / stage), stage=stage, steps=steps, init=init, **extra, **base),
              progress=False, state_out=st)
        states[stage] = st
    torch.save(states, Path(out) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_two_gloo_ranks_stay_identical_and_learn(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "photos"
    data.mkdir()
    y, x = np.mgrid[0:160, 0:160]
    for i in range(2):
        img = 127 + 100 * np.sin((x + 7 * i) / 5.0)[..., None] * np.cos(y / 9.0)[..., None]
        Image.fromarray(np.clip(img + rng.normal(0, 5, (160, 160, 3)), 0, 255).astype(np.uint8)).save(data / f"p{i}.png")
    out = tmp_path / "run"
    mp.start_processes(_worker, args=(2, _free_port(), str(data), str(out)), nprocs=2, join=True,
                       start_method="spawn")
    r0 = torch.load(out / "rank0.pt", weights_only=True)
    r1 = torch.load(out / "rank1.pt", weights_only=True)
    for stage in ("psnr", "gan"):
        for part in r0[stage]:
            for k, v in r0[stage][part].items():
                assert torch.equal(v, r1[stage][part][k]), (stage, part, k)
    # the ranks trained on different samples: the weights moved away from the start
    ck = torch.load(out / "psnr" / "last.pt", weights_only=True)
    assert ck["world"] == 2 and ck["step"] == 40
    assert torch.equal(ck["gen"]["head.weight"], r0["psnr"]["gen"]["head.weight"])
    rows = list(csv.DictReader(open(out / "psnr" / "log.csv")))
    l1 = [float(r["l_pix"]) for r in rows]
    assert len(l1) == 40
    assert np.mean(l1[-8:]) < 0.9 * np.mean(l1[:8])
    gan_rows = list(csv.DictReader(open(out / "gan" / "log.csv")))
    assert len(gan_rows) == 3 and all(float(r["l_d_real"]) > 0 for r in gan_rows)
    # rank 0 logs only: one log and one checkpoint per stage, nothing from rank 1
    assert sorted(p.name for p in (out / "psnr").iterdir()) == ["last.pt", "log.csv"]
