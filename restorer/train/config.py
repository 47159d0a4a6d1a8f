"""Training settings, one dataclass importable without torch (the ``train`` CLI builds its flags from it)."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TrainConfig"]


def _opt(default, help: str, choices: tuple | None = None):
    """A :class:`TrainConfig` field with its command-line help (``restorer.cli`` builds ``train``'s flags from them)."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class TrainConfig:
    """Settings of one training stage; each field is also a ``train`` flag (``hr_size`` -> ``--hr-size``).

    Sizes in pixels, learning rates per step, wall time in minutes. The field
    metadata's ``help`` is the one description of each setting; loss weights and
    EMA are Real-ESRGAN's (Wang et al., ICCVW 2021) unless noted.
    """

    data: str = _opt("data/train", "folder of HR photos (scripts/fetch_training_photos.sh)")
    out: str = _opt("runs/x4", "run folder (checkpoints, log.csv); resumes if it has last.pt")
    stage: str = _opt("psnr", "psnr: L1 only; gan: L1 + perceptual + GAN", ("psnr", "gan"))
    scale: int = _opt(4, "SR factor")
    num_feat: int = _opt(48, "generator width (RestorerCompact)")
    num_conv: int = _opt(16, "generator body convolutions (even)")
    cascade_feat: int = _opt(0, "width of a second x2 stage run on the first's output (RestorerCascade; the first "
                             "stage is then x scale/2); 0 = one stage")
    cascade_conv: int = _opt(8, "body convolutions of the second stage (even)")
    steps: int = _opt(1000, "total optimiser steps, counted across resumes")
    batch: int = _opt(16, "patches per step per rank")
    hr_size: int = _opt(128, "HR patch side in pixels")
    lr: float = _opt(2e-4, "Adam learning rate of generator and discriminator")
    lr_halve_at: str = _opt("", "steps at which the learning rate halves, comma-separated (BasicSR's MultiStepLR, "
                            "gamma 0.5); '' = constant")
    w_pix: float = _opt(1.0, "L1 weight")
    w_percep: float = _opt(1.0, "perceptual weight (GAN stage)")
    w_gan: float = _opt(0.1, "adversarial weight (GAN stage)")
    w_ldl: float = _opt(0.0, "GAN stage: weight of LDL's artefact term (restorer.train.losses.ldl_loss; the "
                        "paper's 1.0); 0 = off")
    perceptual: str = _opt("vgg", "perceptual term of the GAN stage", ("vgg", "lpips-vgg", "lpips-alex", "dists"))
    teacher: str = _opt("", "second target beside HR: a model's outputs on the pool's LR patches, computed on the "
                        "training device into --pool (also at each refresh; the bench extra)", ("", "realesrgan-x4plus"))
    w_teacher: float = _opt(1.0, "weight of the teacher's L1 and perceptual terms, relative to HR's")
    d_feat: int = _opt(32, "discriminator base width (Real-ESRGAN: 64)")
    ema: float = _opt(0.999, "generator EMA decay per step")
    ckpt_every: int = _opt(200, "checkpoint period in steps")
    log_every: int = _opt(10, "log.csv period in steps")
    keep_every: int = _opt(0, "keep step_N.pt every N steps (0 = never)")
    seed: int = _opt(0, "seed of torch and of the data stream")
    threads: int = _opt(0, "torch CPU threads (0 = default)")
    workers: int = _opt(0, "processes that degrade patches (data loader, or the pool's builder)")
    init: str = _opt("", "generator weights to start from (.pt checkpoint's EMA or .safetensors)")
    init_partial: bool = _opt(False, "load only matching tensors of --init (e.g. a x4 body into a x2 model); "
                              "residual blocks it lacks start as identity, so a deeper model starts as --init")
    init_disc: str = _opt("", "GAN stage: a GAN checkpoint (.pt) whose discriminator to start from")
    max_minutes: float = _opt(0.0, "stop (with a checkpoint) after this wall time, across resumes (0 = no limit)")
    degradation: str = _opt("second", "second: Real-ESRGAN's second-order model; first: the first-order one; "
                            "mix: families of restorer.degradations.MixConfig", ("second", "first", "mix"))
    p_clean: float = _opt(0.2, "probability of a clean bicubic LR patch (first, second)")
    mix_probs: str = _opt("", "mix: probabilities of the clean, web_jpeg, phone and second families, comma-separated "
                          "('' = restorer.degradations.MixConfig's)")
    prescale: float = _opt(2.0, "downscale factor of the photos at load time (DESIGN.md section 4)")
    pool: str = _opt("", "folder of a precomputed pool of degraded pairs (restorer.train.pool); '' = degrade per step")
    pool_size: int = _opt(12000, "pairs in the pool")
    pool_refresh: float = _opt(0.25, "fraction of the pool replaced by new pairs each epoch (pool_size / batch steps)")
    loader_workers: int = _opt(0, "processes that read the pool's batches (0 = the train process; a GPU needs a few)")
    device: str = _opt("auto", "auto (CUDA, MPS, CPU), cpu, cuda[:N] or mps (DDP: each rank's own GPU; not MPS)")
