#!/usr/bin/env bash
# The recipe of restorer-x2 v1 (the start of v2-v4; see weights/restorer_x2.md), as run on
# this project's 2-core CPU (wall-time limits; rerunning a command resumes from runs/*/last.pt).
# Stage 1 starts from the x4 PSNR-stage generator's body (head + residual blocks; the x2 tail is
# new), on Real-ESRGAN's second-order degradations (p_clean 0.2); stage 2 adds perceptual + GAN.
# Training photos: every 9th sorted photo is held out for validation (runs/data/heldout).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
[ -f runs/x4_psnr/ema.safetensors ] || { echo "run the x4 PSNR stage first (scripts/train_x4.sh)"; exit 1; }
$PY main.py train --stage psnr --scale 2 --data runs/data/train --out runs/x2_psnr --steps 100000 --batch 16 \
    --hr-size 96 --lr 5e-4 --init runs/x4_psnr/ema.safetensors --init-partial --max-minutes 38 --threads 1 \
    --workers 1 --ckpt-every 100 --keep-every 500 --seed 2 --export runs/x2_psnr/ema.safetensors
$PY main.py train --stage gan --scale 2 --data runs/data/train --out runs/x2_gan --steps 100000 --batch 8 \
    --hr-size 64 --lr 2e-4 --perceptual "${PERCEPTUAL:-lpips-vgg}" --init runs/x2_psnr/last.pt --max-minutes "${GAN_MINUTES:-33}" \
    --threads 1 --workers 1 --ckpt-every 50 --keep-every 100 --seed 3 --export runs/x2_gan/ema.safetensors
# The shipped file is stage 2's EMA (runs/x2_gan/ema.safetensors); the shipped run was stopped at
# its step-700 checkpoint (see weights/restorer_x2.md for why the EMA and not the raw generator).
