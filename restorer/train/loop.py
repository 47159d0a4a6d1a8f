"""Training loop: PSNR-oriented pre-training (L1), then the GAN stage; one process or DDP.

Two stages as in ESRGAN/Real-ESRGAN (Wang et al. 2018, 2021):

* ``psnr``: L1 loss only.
* ``gan``: ``w_pix * L1 + w_percep * perceptual + w_gan * GAN`` (defaults
  1 : 1 : 0.1, Real-ESRGAN's), generator and U-Net discriminator, starting
  from the PSNR stage's EMA weights (``init``). The perceptual term is VGG16
  features with per-layer weights (``perceptual="vgg"``) or LPIPS
  (``"lpips-vgg"``/``"lpips-alex"``); see ``docs/TRAINING.md`` for the ablation
  that chose it. ``w_ldl`` adds LDL's artefact term (Liang et al., CVPR 2022),
  which compares the generator with its EMA to find artefacts.

Both stages use Adam(``TrainConfig.lr``, betas 0.9/0.99) for every network, at
a constant rate unless ``lr_halve_at`` lists steps (Real-ESRGAN uses 2e-4 for
its PSNR stage and 1e-4 for its GAN stage).

Training pairs come from :class:`restorer.train.data.PatchDataset` through a
``DataLoader`` (``workers`` processes degrade patches on the CPU), or, with
``pool``, from a precomputed on-disk pool of its samples
(:mod:`restorer.train.pool`, part of it refreshed every epoch); sample ``i``
depends only on ``(seed, i)``. With ``teacher`` the pool also holds a teacher's
outputs on its LR patches (:mod:`restorer.train.teacher`), a second target of the
L1 and perceptual terms with weight ``w_teacher`` (the discriminator's real
images stay the HR patches).

Distributed: launched by ``torchrun --nproc_per_node=N main.py train ...``
(environment ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``), the generator and the
discriminator are wrapped in ``DistributedDataParallel`` (NCCL on GPUs, Gloo on
the CPU), each rank draws its own disjoint samples
(:class:`restorer.train.data.StepSampler`), so the effective batch is
``world * batch``; only rank 0 logs, shows progress and writes checkpoints.

The generator's exponential moving average (EMA, decay 0.999) is what gets
exported. Checkpoints (``last.pt`` in the run folder, every ``ckpt_every`` steps
and at the end, plus a kept copy ``step_{N}.pt`` every ``keep_every`` steps)
hold model, EMA, discriminator, optimisers, step, elapsed time and the torch RNG
state, so a rerun with the same folder continues exactly (the data stream
resumes at the saved step). A CSV log is written beside them.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import math
import os
import signal
import threading
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from restorer.degradations import FAMILIES, DegradationConfig, MixConfig, SecondOrderConfig
from restorer.device import pick_device
from restorer.models.discriminator import UNetDiscriminatorSN
from restorer.models.generator import RestorerCascade, RestorerCompact
from restorer.train.config import TrainConfig
from restorer.train.data import PatchDataset, load_photos, make_loader
from restorer.train.pool import PairPool, PoolDataset
from restorer.train.losses import gan_loss, ldl_loss, make_perceptual_loss

__all__ = ["TrainConfig", "train", "export_generator"]


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _save(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def build_generator(cfg: TrainConfig) -> torch.nn.Module:
    """The generator ``cfg`` describes: a :class:`RestorerCompact` (``num_feat`` x ``num_conv``, x ``scale``), or
    with ``cascade_feat`` a :class:`RestorerCascade` of that body at x ``scale / 2`` and a
    ``cascade_feat`` x ``cascade_conv`` x2 stage. ValueError: a cascade of odd ``scale``."""
    if not cfg.cascade_feat:
        return RestorerCompact(num_feat=cfg.num_feat, num_conv=cfg.num_conv, scale=cfg.scale)
    if cfg.scale % 2:
        raise ValueError(f"--cascade-feat needs an even --scale (its second stage is x2), got {cfg.scale}")
    return RestorerCascade(RestorerCompact(num_feat=cfg.num_feat, num_conv=cfg.num_conv, scale=cfg.scale // 2),
                           RestorerCompact(num_feat=cfg.cascade_feat, num_conv=cfg.cascade_conv, scale=2))


def _load_generator_weights(model: torch.nn.Module, path: str, partial: bool = False) -> None:
    """Load ``path`` (safetensors, or a checkpoint's EMA) into ``model``; with
    ``partial``, the tensors whose name matches (a warning lists the rest), and the model starts
    by computing what ``path`` did, then learns from there (function-preserving growth, as in
    Net2Net, Chen et al., ICLR 2016): residual blocks of ``model.trunk`` that ``path`` lacks get a
    zero second convolution (identity); a wider tensor takes the old one in its leading channels,
    zero weights from the new input channels, and its own initialisation for the new output
    channels (new features that nothing reads until training gives them weight). A tail of a
    smaller scale that divides the model's (restorer-x2 into a x4 model) has each sub-pixel
    channel repeated: the start is bicubic plus ``path``'s detail, nearest-enlarged.

    A :class:`RestorerCascade` takes a cascade's file stage by stage (each grown as above), and with
    ``partial`` a one-stage file into both stages:
    stage 1 as above, stage 2 the leading blocks that fit (restorer-x2 into a shallower x2 stage:
    not function-preserving, a start with trained features, as truncated residual networks degrade
    gracefully, Veit et al., NeurIPS 2016)."""
    from restorer.models import read_state_dict

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such generator weights file")
    state = read_state_dict(Path(path))
    if partial and isinstance(model, RestorerCascade):
        one_stage = "restorer_arch" in state
        for prefix, stage in (("stage1.", model.stage1), ("stage2.", model.stage2)):
            part = state if one_stage else {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            _load_state(stage, part, path, partial=True)
    else:
        _load_state(model, state, path, partial)


def _load_state(model: torch.nn.Module, state: dict, path: str, partial: bool) -> None:
    """:func:`_load_generator_weights` of a read ``state`` (``path`` names it in warnings)."""
    if partial:
        if "tail.weight" not in state:
            raise ValueError(f"{path}: not the weights of one RestorerCompact (a cascade's go into a cascade)")
        own = model.state_dict()
        src = math.isqrt(state["tail.weight"].shape[0] // model.out_ch)  # the tail has out_ch * scale² outputs
        if src != model.scale and model.scale % src == 0:
            r = model.scale // src  # PixelShuffle channel c*s*s + y*s + x is sub-pixel (y, x) of colour c
            idx = [c * src * src + (y // r) * src + x // r
                   for c in range(model.out_ch) for y in range(model.scale) for x in range(model.scale)]
            state = {k: v[idx] if k.startswith("tail.") else v for k, v in state.items()}

        def widened(k: str, v: torch.Tensor) -> torch.Tensor:
            if own[k].shape == v.shape or own[k].dim() != v.dim() or any(a < b for a, b in zip(own[k].shape, v.shape)):
                return v
            w = own[k].clone()
            if w.dim() > 1:
                w[:, v.shape[1]:] = 0  # new input channels: not read by any output yet
            w[tuple(slice(0, n) for n in v.shape)] = v
            return w

        state = {k: widened(k, v) if k in own else v for k, v in state.items()}
        kept = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and k != "restorer_arch"}
        skipped = sorted(set(own) - set(kept) - {"restorer_arch"})
        if skipped:
            warnings.warn(f"{path}: not loaded (shape differs or missing): {', '.join(skipped)}", stacklevel=4)
        model.load_state_dict(kept, strict=False)
        for i, block in enumerate(model.trunk):
            if f"trunk.{i}.conv1.weight" not in kept:
                torch.nn.init.zeros_(block.conv2.weight)
                torch.nn.init.zeros_(block.conv2.bias)
    else:
        model.load_state_dict(state)


def lr_milestones(cfg: TrainConfig) -> list[int]:
    """Steps of ``--lr-halve-at`` (ints, sorted); ValueError names a bad entry."""
    try:
        return sorted(int(x) for x in cfg.lr_halve_at.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--lr-halve-at: expected comma-separated steps, got {cfg.lr_halve_at!r}") from None


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate for the optimiser step after ``step`` steps: ``cfg.lr`` halved once per milestone
    reached (BasicSR's MultiStepLR with gamma 0.5, which Real-ESRGAN's PSNR stage uses)."""
    return cfg.lr * 0.5 ** sum(step >= m for m in lr_milestones(cfg))


def set_lr(cfg: TrainConfig, step: int, *opts) -> None:
    """Set every param group of ``opts`` (None skipped) to :func:`lr_at`."""
    for opt in opts:
        if opt is not None:
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, step)


def autogroup_warning(flag: str | Path = "/proc/sys/kernel/sched_autogroup_enabled") -> str | None:
    """Say why ``nice -n 19`` on other jobs will not protect this run, or None.

    With the kernel's autogroup scheduling on (the default on desktop kernels), CPU time is
    shared between sessions first and niceness only counts inside a session, so a niced test
    run in another terminal still takes a full core from training (measured here: a niced
    pytest at 90-98 % CPU beside a 2-thread run, 6 % once autogroup was off).
    """
    try:
        on = Path(flag).read_text().strip() == "1"
    except OSError:
        return None
    if not on:
        return None
    return ("kernel autogroup scheduling is on, so `nice` does not keep other jobs off this run; "
            "turn it off with `sysctl kernel.sched_autogroup_enabled=0` (root)")


def _degradation_config(cfg: TrainConfig):
    if cfg.degradation == "second":
        return SecondOrderConfig(scale=cfg.scale, p_clean=cfg.p_clean)
    if cfg.degradation == "first":
        return DegradationConfig(scale=cfg.scale, p_clean=cfg.p_clean)
    if cfg.degradation == "mix":
        if not cfg.mix_probs:
            return MixConfig(scale=cfg.scale)
        probs = tuple(float(v) for v in cfg.mix_probs.split(","))
        if len(probs) != len(FAMILIES) or min(probs) < 0 or sum(probs) <= 0:
            raise ValueError(f"mix_probs needs {len(FAMILIES)} non-negative numbers, got {cfg.mix_probs!r}")
        return MixConfig(scale=cfg.scale, probs=probs)
    raise ValueError(f"unknown degradation {cfg.degradation!r}; expected 'second', 'first' or 'mix'")


def _distributed() -> tuple[int, int, int, bool]:
    """Return ``(rank, world, local_rank, initialised_here)``; starts the process
    group (NCCL with CUDA, else Gloo) when ``WORLD_SIZE`` > 1 and none is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), False
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0, False
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), True


def _training_device(name: str, local_rank: int, world: int) -> torch.device:
    """:func:`restorer.device.pick_device` (auto: CUDA, then MPS, then CPU), CUDA pinned to this rank's GPU;
    ``auto`` in a DDP job without CUDA is the CPU (Gloo does not take MPS tensors)."""
    device = pick_device(name)
    if device.type == "mps" and world > 1 and name == "auto":
        device = torch.device("cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)  # torch.cuda.set_device refuses a device without an index
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # fixed patch sizes: let cuDNN pick its fastest kernels
    return device


def _training_data(cfg: TrainConfig, deg_cfg, device: torch.device, rank: int, world: int, progress: bool):
    """``(dataset, pool)``: patches degraded per sample, or with ``cfg.pool`` the precomputed pair pool
    (built or extended by rank 0, keyed by the photos, degradation, seed and teacher; pool None without)."""
    photos = load_photos(cfg.data, cfg.hr_size, cfg.prescale)
    dataset = PatchDataset(photos, cfg.hr_size, deg_cfg, seed=cfg.seed)
    if not cfg.pool:
        return dataset, None
    key = {"photos": hashlib.sha1(repr([p.shape for p in photos]).encode()).hexdigest()[:16],
           "degradation": repr(deg_cfg), "seed": cfg.seed, "prescale": cfg.prescale}
    teacher = None
    if cfg.teacher:
        from restorer.train.teacher import load_realesrgan_x4plus

        key["teacher"] = cfg.teacher
        with torch.random.fork_rng():  # the generator's and discriminator's init stay those of a run without it
            model = load_realesrgan_x4plus().to(device)
        teacher = lambda lr: model(lr.to(device)).cpu()  # noqa: E731  (on the training device)
    pool = None
    if rank == 0:
        pool = PairPool(cfg.pool, dataset, cfg.pool_size, key, workers=cfg.workers,
                        teacher=teacher).build(chunk=256 if teacher else 1024, progress=progress)
    if world > 1:
        dist.barrier()
    if rank != 0:
        pool = PairPool(cfg.pool, dataset, cfg.pool_size, key, workers=0, teacher=teacher)
    return PoolDataset(pool, seed=cfg.seed), pool


def _step(cfg: TrainConfig, batch: list[torch.Tensor], gen, ema, disc, disc_core, percep, opt_g,
          opt_d) -> list[torch.Tensor]:
    """One optimisation step on ``batch`` = (LR, HR[, teacher output]): the generator (L1, and in the GAN
    stage perceptual + adversarial, and LDL's term against ``ema``'s output), then the discriminator.
    ``gen``/``disc`` may be DDP-wrapped; ``disc_core`` is the bare discriminator (None in the PSNR stage).
    Returns the log row's detached losses ``[l_pix, l_percep, l_gan, l_d_real, l_d_fake]`` (zeros where
    unused; ``l_pix`` includes the teacher's and LDL's terms)."""
    lr_img, hr_img, *teacher_img = batch
    teacher_img = teacher_img[0] if teacher_img else None
    sr = gen(lr_img)
    l_pix = F.l1_loss(sr, hr_img)
    if teacher_img is not None:
        l_pix = l_pix + cfg.w_teacher * F.l1_loss(sr, teacher_img)
    loss = cfg.w_pix * l_pix
    zero = l_pix.detach() * 0
    row = [l_pix.detach(), zero, zero, zero, zero]
    if disc is not None:
        disc_core.requires_grad_(False)
        l_percep = percep(sr, hr_img, teacher_img, cfg.w_teacher)
        # the unwrapped discriminator: no DDP reduction for its (absent) gradients here
        l_g = gan_loss(disc_core(sr), True)
        loss = loss + cfg.w_percep * l_percep + cfg.w_gan * l_g
        if cfg.w_ldl:
            with torch.no_grad():
                sr_ema = ema(lr_img)
            l_ldl = cfg.w_ldl * ldl_loss(sr, sr_ema, hr_img)
            loss = loss + l_ldl
            row[0] = row[0] + l_ldl.detach()
        row[1], row[2] = l_percep.detach(), l_g.detach()
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    if disc is not None:
        disc_core.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        # real and fake in one forward pass, so DDP reduces once per step
        logits = disc(torch.cat([hr_img, sr.detach().clamp(0, 1)]))
        n = hr_img.shape[0]
        l_real = gan_loss(logits[:n], True)
        l_fake = gan_loss(logits[n:], False)
        (l_real + l_fake).backward()
        opt_d.step()
        row[3], row[4] = l_real.detach(), l_fake.detach()
    return row


def train(cfg: TrainConfig, progress: bool = True, state_out: dict | None = None) -> Path:
    """Run (or resume) one training stage, alone or as one rank of a DDP job; return the checkpoint path.

    Resumes from ``cfg.out/last.pt`` when it exists (weights, optimisers, step,
    elapsed time and torch RNG state; the learning rate comes from ``cfg``, see :func:`lr_at`).
    Stops at ``cfg.steps`` steps or after ``cfg.max_minutes`` (rank 0's clock,
    shared with every rank), and always writes a final checkpoint, also when
    interrupted by an exception. Every ``cfg.log_every`` steps a row ``step,
    elapsed_s, l_pix, l_percep, l_gan, l_d_real, l_d_fake`` (losses of that
    step averaged over ranks, unitless; 0 where unused; with a teacher,
    ``l_pix`` and ``l_percep`` include its terms, with ``w_ldl`` ``l_pix`` includes
    LDL's) is appended to ``log.csv`` by rank 0.

    Distributed runs: when the environment has ``WORLD_SIZE`` > 1 (set by
    ``torchrun``), the process group is started here (NCCL with CUDA, Gloo
    otherwise) and destroyed at the end; an already started group is used as is.

    Args:
        cfg: the stage's settings.
        progress: show a tqdm progress bar (rank 0 only).
        state_out: if a dict, it receives this rank's final ``"gen"``, ``"ema"``
            and (GAN stage) ``"disc"`` state dicts (CPU copies), e.g. to check
            that every rank ended with the same weights.

    Returns:
        Path of ``cfg.out/last.pt``: a ``torch.save`` dict with ``gen``,
        ``ema`` (state dicts, float32, CPU), ``opt_g``, ``step``, ``elapsed``
        (seconds), ``config`` (``asdict(cfg)``), ``rng`` (``{"torch": state}``),
        ``world`` (number of ranks), and for the GAN stage ``disc`` and ``opt_d``.

    Raises:
        ValueError: unknown ``cfg.stage``, ``cfg.degradation`` or
            ``cfg.perceptual``; ``hr_size`` not divisible by the scale; a bad ``cfg.lr_halve_at``;
            ``cfg.teacher`` without a pool or at a scale other than 4.
        FileNotFoundError: the data folder has no usable image, or ``cfg.init``
            does not exist.
        restorer.weights.WeightsNotFoundError: the GAN stage cannot find the
            perceptual network's weights.
        KeyError, RuntimeError: ``last.pt``, ``cfg.init`` or ``cfg.init_disc`` does not match
            the stage or the networks' shapes.
    """
    if cfg.stage not in ("psnr", "gan"):
        raise ValueError(f"unknown stage {cfg.stage!r}; expected 'psnr' or 'gan'")
    if cfg.teacher and (not cfg.pool or cfg.scale != 4):
        raise ValueError(f"--teacher {cfg.teacher} needs --pool (its outputs are computed once into it) and --scale 4")
    lr_milestones(cfg)  # a bad --lr-halve-at fails here, not after the pool is built
    deg_cfg = _degradation_config(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rank, world, local_rank, own_group = _distributed()
    if rank == 0 and (note := autogroup_warning()):
        warnings.warn(note, stacklevel=2)
    device = _training_device(cfg.device, local_rank, world)
    out = Path(cfg.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    dataset, pool = _training_data(cfg, deg_cfg, device, rank, world, progress)

    gen = build_generator(cfg)
    if cfg.init:
        _load_generator_weights(gen, cfg.init, cfg.init_partial)
    disc = percep = None
    if cfg.stage == "gan":
        disc = UNetDiscriminatorSN(num_feat=cfg.d_feat)
        if cfg.init_disc:
            disc.load_state_dict(torch.load(cfg.init_disc, map_location="cpu", weights_only=True)["disc"])
        percep = make_perceptual_loss(cfg.perceptual).to(device)

    ckpt_path = out / "last.pt"
    step = 0
    elapsed = 0.0
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=True) if ckpt_path.exists() else None
    if ck is not None:
        gen.load_state_dict(ck["gen"])
        if disc is not None:
            disc.load_state_dict(ck["disc"])
    gen.to(device)
    ema = copy.deepcopy(gen).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    if disc is not None:
        disc.to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.9, 0.99)) if disc is not None else None
    if ck is not None:
        ema.load_state_dict(ck["ema"])
        opt_g.load_state_dict(ck["opt_g"])
        if opt_d is not None:
            opt_d.load_state_dict(ck["opt_d"])
        # The learning rate comes from the current config, so a resumed run may change it.
        set_lr(cfg, ck["step"], opt_g, opt_d)
        torch.set_rng_state(ck["rng"]["torch"])
        step = ck["step"]
        elapsed = ck.get("elapsed", 0.0)
    del ck

    gen_core, disc_core = gen, disc
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        gen = DDP(gen, device_ids=ids)
        if disc is not None:
            disc = DDP(disc, device_ids=ids)

    def checkpoint() -> None:
        if rank != 0:
            return
        payload = {"gen": {k: v.cpu() for k, v in gen_core.state_dict().items()},
                   "ema": {k: v.cpu() for k, v in ema.state_dict().items()},
                   "opt_g": opt_g.state_dict(), "step": step, "elapsed": elapsed, "config": asdict(cfg),
                   "rng": {"torch": torch.get_rng_state()}, "world": world}
        if disc is not None:
            payload["disc"] = {k: v.cpu() for k, v in disc_core.state_dict().items()}
            payload["opt_d"] = opt_d.state_dict()
        _save(ckpt_path, payload)
        if cfg.keep_every and step % cfg.keep_every == 0:
            _save(out / f"step_{step}.pt", payload)

    log = writer = bar = None
    if rank == 0:
        log_path = out / "log.csv"
        new_log = not log_path.exists()
        log = open(log_path, "a", newline="")
        writer = csv.writer(log)
        if new_log:
            writer.writerow(["step", "elapsed_s", "l_pix", "l_percep", "l_gan", "l_d_real", "l_d_fake"])
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.stage}", unit="step")

    loader = iter(make_loader(dataset, cfg.batch, step, rank, world, cfg.loader_workers if pool else cfg.workers))
    epoch_steps = max(1, cfg.pool_size // (cfg.batch * world))
    halve_at = set(lr_milestones(cfg))
    start_step = step
    gen.train()
    t0 = time.perf_counter() - elapsed
    # SIGTERM (a session or job scheduler ending the run) stops at the current step with a checkpoint,
    # like Ctrl+C; background jobs started by a shell ignore SIGINT, so this is how to stop them.
    on_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _interrupt) if on_main else None
    try:
        # a run resumed past its wall-time limit stops at once (every rank read the same elapsed time)
        while step < cfg.steps and not (cfg.max_minutes and elapsed > cfg.max_minutes * 60):
            if pool is not None and step % epoch_steps in (0, start_step % epoch_steps):
                if rank == 0:  # new pairs for part of the pool, once per epoch (restorer.train.pool)
                    pool.refresh_to(step // epoch_steps, cfg.pool_refresh)
                if world > 1:
                    dist.barrier()
            if step in halve_at:
                set_lr(cfg, step, opt_g, opt_d)
            batch = [t.to(device, non_blocking=True) for t in next(loader)]
            row = _step(cfg, batch, gen, ema, disc, disc_core, percep, opt_g, opt_d)
            with torch.no_grad():
                for pe, pg in zip(ema.parameters(), gen_core.parameters()):
                    pe.lerp_(pg, 1.0 - cfg.ema)
            step += 1
            elapsed = time.perf_counter() - t0
            stop = bool(cfg.max_minutes and elapsed > cfg.max_minutes * 60)
            if world > 1:
                flag = torch.tensor([float(stop)], device=device)
                dist.broadcast(flag, 0)  # rank 0's clock decides, so every rank stops at the same step
                stop = bool(flag.item())
            if step % cfg.log_every == 0:
                vals = torch.stack(row).float()
                if world > 1:
                    dist.all_reduce(vals)
                    vals /= world
                if writer is not None:
                    writer.writerow([step, round(elapsed, 2)] + [round(v, 6) for v in vals.tolist()])
                    log.flush()
            if bar is not None:
                bar.update(1)
                if step % cfg.log_every == 0:  # .item() waits for the GPU: not every step
                    bar.set_postfix(l1=f"{row[0].item():.4f}")
            if step % cfg.ckpt_every == 0:
                checkpoint()
            if stop:
                break
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, old_term)
        checkpoint()
        if log is not None:
            log.close()
        if bar is not None:
            bar.close()
    if state_out is not None:
        state_out["gen"] = {k: v.detach().cpu().clone() for k, v in gen_core.state_dict().items()}
        state_out["ema"] = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
        if disc_core is not None:
            state_out["disc"] = {k: v.detach().cpu().clone() for k, v in disc_core.state_dict().items()}
    if world > 1:
        dist.barrier()  # the checkpoint is on disk before any rank returns
        if own_group:
            dist.destroy_process_group()
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
