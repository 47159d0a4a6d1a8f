"""Distil restorer-x2 applied twice into a x4 RestorerCascade with a small second stage (issue 11).

restorer-x2 applied twice beats restorer-x4 v2 on every LPIPS-Alex track of the benchmark, but costs
1.69 MMAC per LR pixel (0.49x SRVGGNetCompact-x4v3's CPU speed). The cascade keeps restorer-x2 as its
first stage, frozen, and trains a smaller x2 second stage (``--feat`` x ``--conv``, started from
restorer-x2's leading blocks) to give what restorer-x2 gives on the first stage's outputs: L1 between
the two, on the LR patches of a training pool (``restorer.train.pool``; never benchmark photos).
Knowledge distillation (Hinton et al., 2015) with the teacher's output as the only target; the HR
photo comes back in the GAN stage that may follow (``main.py train --init`` the written file).

Stage 1's and the teacher's outputs are computed once into ``OUT/cache_*.npy`` (float16,
memory-mapped), so a step pays only for the student. Resumable: ``OUT/student.pt`` holds the student,
its Adam state and the step. Writes ``OUT/cascade.safetensors`` (the whole x4 model) at every save and
``OUT/log.csv`` (step, seconds, L1).

    PYTHONPATH=. .venv/bin/python scripts/distill_x4_cascade.py --out runs/x4d48x4 --feat 48 --conv 4
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from restorer.models import load_model
from restorer.models.generator import RestorerCascade, RestorerCompact
from restorer.train.loop import _load_generator_weights


def _cache(path: Path, shape: tuple, fill) -> np.ndarray:
    """A float16 array at ``path`` (.npy), computed by ``fill(out)`` once and memory-mapped after."""
    if path.exists():
        return np.load(path, mmap_mode="r")
    tmp = path.with_suffix(".tmp.npy")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
    fill(arr)
    arr.flush()
    del arr
    os.replace(tmp, path)
    return np.load(path, mmap_mode="r")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", default="weights/restorer_x2.safetensors", help="the x2 model (stage 1 and teacher)")
    ap.add_argument("--pool", default="runs/pool_x4x2", help="a x4 training pool (its lr.u8 and meta.json)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--feat", type=int, default=48)
    ap.add_argument("--conv", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x2 = load_model(args.teacher).model.eval()
    if not isinstance(x2, RestorerCompact) or x2.scale != 2:
        raise SystemExit(f"{args.teacher}: not a x2 RestorerCompact")
    meta = json.loads((Path(args.pool) / "meta.json").read_text())
    n, (h, w, _) = meta["filled"], meta["key"]["lr_shape"]
    lr_u8 = np.memmap(Path(args.pool) / "lr.u8", dtype=np.uint8, mode="r", shape=(meta["key"]["size"], h, w, 3))

    def run_x2(src, dst, chunk=64):
        with torch.inference_mode():
            for i in range(0, n, chunk):
                x = torch.from_numpy(np.asarray(src[i:i + chunk])).float()
                if x.shape[-1] == 3:  # uint8 HWC
                    x = x.permute(0, 3, 1, 2) / 255.0
                dst[i:i + chunk] = x2(x).numpy().astype(np.float16)
                print(f"\r{dst.shape} {i + chunk}/{n}", end="", flush=True)
        print()

    y1 = _cache(out / "cache_stage1.npy", (n, 3, 2 * h, 2 * w), lambda a: run_x2(lr_u8, a))
    target = _cache(out / "cache_teacher.npy", (n, 3, 4 * h, 4 * w), lambda a: run_x2(y1, a, chunk=16))

    student = RestorerCompact(num_feat=args.feat, num_conv=args.conv, scale=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _load_generator_weights(student, args.teacher, partial=True)  # its leading blocks, as the GAN stage would
    opt = torch.optim.Adam(student.parameters(), lr=args.lr, betas=(0.9, 0.99))
    step, elapsed = 0, 0.0
    ck_path = out / "student.pt"
    if ck_path.exists():
        ck = torch.load(ck_path, map_location="cpu", weights_only=True)
        student.load_state_dict(ck["student"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
    rng = np.random.default_rng(step)
    log = open(out / "log.csv", "a", newline="")
    writer = csv.writer(log)

    def save():
        tmp = ck_path.with_suffix(".tmp")
        torch.save({"student": student.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed}, tmp)
        os.replace(tmp, ck_path)
        from safetensors.torch import save_file

        cascade = RestorerCascade(x2, student)
        tmp = out / "cascade.tmp"
        save_file({k: v.contiguous() for k, v in cascade.state_dict().items()}, str(tmp), metadata={"step": str(step)})
        os.replace(tmp, out / "cascade.safetensors")

    t0 = time.perf_counter() - elapsed
    try:
        while step < args.steps:
            idx = np.sort(rng.choice(n, args.batch, replace=False))
            x = torch.from_numpy(np.asarray(y1[idx])).float()
            t = torch.from_numpy(np.asarray(target[idx])).float()
            k = int(rng.integers(8))  # one of the 8 flips/rotations, the same on input and target
            if k & 4:
                x, t = x.transpose(-1, -2), t.transpose(-1, -2)
            x, t = torch.rot90(x, k & 3, (-2, -1)), torch.rot90(t, k & 3, (-2, -1))
            loss = F.l1_loss(student(x), t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            elapsed = time.perf_counter() - t0
            if step % 10 == 0:
                writer.writerow([step, round(elapsed, 1), round(loss.item(), 6)])
                log.flush()
            if step % args.save_every == 0:
                save()
    finally:
        save()
        log.close()


if __name__ == "__main__":
    main()
