"""Training loop: PSNR-oriented pre-training (L1), then the GAN stage.

Two stages as in ESRGAN/Real-ESRGAN (Wang et al. 2018, 2021):

* ``psnr``: L1 loss only.
* ``gan``: ``w_pix * L1 + w_percep * VGG + w_gan * GAN`` (defaults 1 : 1 : 0.1,
  Real-ESRGAN's), generator and U-Net discriminator, starting from the PSNR
  stage's EMA weights (``init``).

Both stages use Adam(``TrainConfig.lr``, betas 0.9/0.99) for every network, at
a constant rate (Real-ESRGAN uses 2e-4 for its PSNR stage and 1e-4 for its GAN
stage; ``scripts/train_x4.sh`` uses 5e-4 and 2e-4).

The generator's exponential moving average (EMA, decay 0.999) is what gets
exported. Checkpoints (``last.pt`` in the run folder, every ``ckpt_every`` steps
and at the end) hold model, EMA, discriminator, optimisers, step and every RNG
state, so ``resume=True`` continues exactly. A CSV log is written beside them.
"""
from __future__ import annotations

import copy
import csv
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from restorer.degradations import DegradationConfig
from restorer.models.discriminator import UNetDiscriminatorSN
from restorer.models.generator import RestorerCompact
from restorer.train.data import PatchSampler
from restorer.train.losses import VGGPerceptualLoss, gan_loss

__all__ = ["TrainConfig", "train", "export_generator"]


@dataclass
class TrainConfig:
    """Settings of one training stage (sizes in pixels, learning rates per step).

    Attributes:
        data: folder of HR photos (:class:`restorer.train.data.PatchSampler`).
        out: run folder: ``last.pt`` (checkpoint, resumed from) and ``log.csv``.
        stage: ``"psnr"`` (L1 only) or ``"gan"``.
        scale, num_feat, num_conv: generator shape (:class:`RestorerCompact`).
        steps: total optimiser steps, counted across resumes.
        batch, hr_size: patches per step and HR patch side in pixels.
        lr: Adam learning rate of the generator and the discriminator.
        w_pix, w_percep, w_gan: loss weights of the GAN stage (Real-ESRGAN's
            1 : 1 : 0.1); the PSNR stage uses ``w_pix`` only.
        d_feat: discriminator base width (Real-ESRGAN: 64).
        ema: EMA decay per step (0.999, as Real-ESRGAN).
        ckpt_every, log_every: checkpoint and CSV-log periods, in steps.
        seed: seed of torch and of the patch sampler.
        threads: torch CPU threads (0 = torch's default).
        init: generator weights to start from: a ``.pt`` checkpoint (its EMA) or
            a ``.safetensors`` file (then replaced by ``last.pt`` when resuming).
        max_minutes: wall-time limit in minutes, counted across resumes (0 = none).
        p_clean: probability of a clean bicubic LR patch
            (:class:`restorer.degradations.DegradationConfig`).
    """

    data: str = "data/train"
    out: str = "runs/x4"
    stage: str = "psnr"  # "psnr" or "gan"
    scale: int = 4
    num_feat: int = 48
    num_conv: int = 16
    steps: int = 1000
    batch: int = 16
    hr_size: int = 128
    lr: float = 2e-4
    w_pix: float = 1.0
    w_percep: float = 1.0
    w_gan: float = 0.1
    d_feat: int = 32
    ema: float = 0.999
    ckpt_every: int = 200
    log_every: int = 10
    seed: int = 0
    threads: int = 0  # 0: leave torch's default
    init: str = ""  # generator weights to start from (.pt checkpoint or .safetensors)
    max_minutes: float = 0.0  # stop (with a checkpoint) after this wall time; 0 = no limit
    p_clean: float = 0.5


def _rng_state(sampler: PatchSampler) -> dict:
    return {"torch": torch.get_rng_state(), "sampler": sampler.state()}


def _save(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _load_generator_weights(model: torch.nn.Module, path: str) -> None:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        model.load_state_dict(load_file(path))
    else:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["ema"])


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Run (or resume) one training stage; return the checkpoint path.

    Resumes from ``cfg.out/last.pt`` when it exists (weights, optimisers, step,
    elapsed time and RNG states; the learning rate comes from ``cfg``). Stops at
    ``cfg.steps`` steps or after ``cfg.max_minutes``, and always writes a final
    checkpoint, also when interrupted by an exception. Every ``cfg.log_every``
    steps a row ``step, elapsed_s, l_pix, l_percep, l_gan, l_d_real, l_d_fake``
    (losses of that step, unitless; 0 where unused) is appended to ``log.csv``.

    Args:
        cfg: the stage's settings.
        progress: show a tqdm progress bar.

    Returns:
        Path of ``cfg.out/last.pt``: a ``torch.save`` dict with ``gen``,
        ``ema`` (state dicts, float32), ``opt_g``, ``step``, ``elapsed``
        (seconds), ``config`` (``asdict(cfg)``), ``rng``, and for the GAN stage
        ``disc`` and ``opt_d``.

    Raises:
        ValueError: unknown ``cfg.stage``.
        FileNotFoundError: the data folder has no usable image, or ``cfg.init``
            does not exist.
        restorer.weights.WeightsNotFoundError: the GAN stage cannot find VGG16
            weights.
        KeyError, RuntimeError: ``last.pt`` or ``cfg.init`` does not match the
            stage or the generator's shape.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    sampler = PatchSampler(cfg.data, cfg.hr_size, DegradationConfig(scale=cfg.scale, p_clean=cfg.p_clean), seed=cfg.seed)

    gen = RestorerCompact(num_feat=cfg.num_feat, num_conv=cfg.num_conv, scale=cfg.scale)
    if cfg.init:
        _load_generator_weights(gen, cfg.init)
    ema = copy.deepcopy(gen).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    disc = opt_d = percep = None
    if cfg.stage == "gan":
        disc = UNetDiscriminatorSN(num_feat=cfg.d_feat)
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        percep = VGGPerceptualLoss()
    elif cfg.stage != "psnr":
        raise ValueError(f"unknown stage {cfg.stage!r}; expected 'psnr' or 'gan'")

    ckpt_path = out / "last.pt"
    step = 0
    elapsed = 0.0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        gen.load_state_dict(ck["gen"])
        ema.load_state_dict(ck["ema"])
        opt_g.load_state_dict(ck["opt_g"])
        if disc is not None:
            disc.load_state_dict(ck["disc"])
            opt_d.load_state_dict(ck["opt_d"])
        # The learning rate comes from the current config, so a resumed run may change it.
        for opt in (opt_g, opt_d):
            if opt is not None:
                for group in opt.param_groups:
                    group["lr"] = cfg.lr
        torch.set_rng_state(ck["rng"]["torch"])
        sampler.set_state(ck["rng"]["sampler"])
        step = ck["step"]
        elapsed = ck.get("elapsed", 0.0)

    def checkpoint() -> None:
        payload = {"gen": gen.state_dict(), "ema": ema.state_dict(), "opt_g": opt_g.state_dict(),
                   "step": step, "elapsed": elapsed, "config": asdict(cfg), "rng": _rng_state(sampler)}
        if disc is not None:
            payload["disc"] = disc.state_dict()
            payload["opt_d"] = opt_d.state_dict()
        _save(ckpt_path, payload)

    log_path = out / "log.csv"
    new_log = not log_path.exists()
    log = open(log_path, "a", newline="")
    writer = csv.writer(log)
    if new_log:
        writer.writerow(["step", "elapsed_s", "l_pix", "l_percep", "l_gan", "l_d_real", "l_d_fake"])

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.stage}", unit="step")
    gen.train()
    t0 = time.perf_counter() - elapsed
    try:
        while step < cfg.steps:
            lr_img, hr_img = sampler.sample(cfg.batch)
            sr = gen(lr_img)
            l_pix = F.l1_loss(sr, hr_img)
            loss = cfg.w_pix * l_pix
            row = [l_pix.item(), 0.0, 0.0, 0.0, 0.0]
            if disc is not None:
                for p in disc.parameters():
                    p.requires_grad_(False)
                l_percep = percep(sr, hr_img)
                l_g = gan_loss(disc(sr), True)
                loss = loss + cfg.w_percep * l_percep + cfg.w_gan * l_g
                row[1], row[2] = l_percep.item(), l_g.item()
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            if disc is not None:
                for p in disc.parameters():
                    p.requires_grad_(True)
                opt_d.zero_grad(set_to_none=True)
                l_real = gan_loss(disc(hr_img), True)
                l_fake = gan_loss(disc(sr.detach().clamp(0, 1)), False)
                (l_real + l_fake).backward()
                opt_d.step()
                row[3], row[4] = l_real.item(), l_fake.item()
            with torch.no_grad():
                for pe, pg in zip(ema.parameters(), gen.parameters()):
                    pe.lerp_(pg, 1.0 - cfg.ema)
            step += 1
            elapsed = time.perf_counter() - t0
            if step % cfg.log_every == 0:
                writer.writerow([step, round(elapsed, 2)] + [round(v, 6) for v in row])
                log.flush()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(l1=f"{row[0]:.4f}")
            if step % cfg.ckpt_every == 0:
                checkpoint()
            if cfg.max_minutes and elapsed > cfg.max_minutes * 60:
                break
    finally:
        checkpoint()
        log.close()
        if bar is not None:
            bar.close()
    return ckpt_path


def export_generator(ckpt: str | Path, out: str | Path, use_ema: bool = True) -> Path:
    """Write a checkpoint's generator (EMA by default) as safetensors, atomically.

    Args:
        ckpt: a ``last.pt`` written by :func:`train`.
        out: target file (a ``.tmp`` sibling is written, then renamed over it).
        use_ema: export the EMA weights (True) or the raw generator's.

    Returns:
        The output path. The file holds the float32 state dict (including the
        ``restorer_arch`` buffer) with metadata ``step`` and ``stage``, and loads
        with :func:`restorer.models.load_model`.

    Raises:
        FileNotFoundError: ``ckpt`` does not exist.
        KeyError: ``ckpt`` is not a checkpoint of :func:`train`.
    """
    from safetensors.torch import save_file

    ck = torch.load(ckpt, map_location="cpu", weights_only=True)
    state = {k: v.contiguous() for k, v in ck["ema" if use_ema else "gen"].items()}
    out = Path(out)
    tmp = out.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"step": str(ck["step"]), "stage": ck["config"]["stage"]})
    os.replace(tmp, out)
    return out
