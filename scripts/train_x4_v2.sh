#!/usr/bin/env bash
# restorer-x4 v2 (issue 11): the degradation mix (restorer.degradations.MixConfig) from a
# precomputed pool of 12,000 LR/HR pairs (restorer.train.pool, a quarter refreshed each epoch),
# stage 1 L1 from the v1 weights (stopped at 34 minutes: its held-out curve had flattened,
# bench/results/heldout_x4v2_psnr_curve.md), stage 2 L1 + LPIPS-VGG + GAN from its EMA (lr 1e-4 for
# its first 350 steps, then 2e-4: the held-out scores moved slowly; more clean inputs from step 571,
# see below). Every command resumes from its
# runs/*/last.pt, so rerunning this script continues where a session stopped. Wall-time limits
# are totals across resumes. Run it at normal priority and everything else under `nice -n 19`.
# (--init is the bundled file, v1 when this ran: docs/TRAINING.md, "Which bundled file a run started from".)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
common=(--data runs/data/train --degradation mix --pool-size 12000 --pool-refresh 0.25
        --hr-size 128 --workers 2 --threads "${THREADS:-2}" --seed 11)
$PY main.py train --stage psnr --out runs/x4v2_psnr --steps 1000000 --batch 16 --lr 3e-4 \
    --init weights/restorer_x4.safetensors --max-minutes "${PSNR_MINUTES:-34}" --ckpt-every 100 --keep-every 1000 \
    --pool runs/pool_x4_mix "${common[@]}" --export runs/x4v2_psnr/ema.safetensors
# From GAN step 571 on, 40 % clean downscales (MixConfig's default is 15 %): on clean inputs the
# model had fallen behind v1 (held-out bicubic track 0.14 against 0.10).
$PY main.py train --stage gan --out runs/x4v2_gan --steps 1000000 --batch 6 --lr 2e-4 --perceptual lpips-vgg \
    --init runs/x4v2_psnr/last.pt --max-minutes "${GAN_MINUTES:-600}" --ckpt-every 25 --keep-every 100 \
    --pool runs/pool_x4_mix_clean40 --mix-probs 0.4,0.25,0.2,0.15 "${common[@]}" --export runs/x4v2_gan/ema.safetensors
