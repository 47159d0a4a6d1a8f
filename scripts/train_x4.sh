#!/usr/bin/env bash
# The recipe of restorer-x4 v1 (the start of v2 and so of v3; see weights/restorer_x4.md).
# Stage 1: L1 only, 15 minutes; stage 2: L1 + VGG16 perceptual + GAN (1 : 1 : 0.1), 40 minutes.
# Both resume from runs/*/last.pt when interrupted and rerun. The v1 recipe used the first-order
# degradations with p_clean 0.5 and the VGG16 perceptual loss (flags below; the defaults are now
# second-order, 0.2 and VGG). Since issue 5 the patch stream is seeded per sample, so a rerun gives a
# model of the same recipe, not bit-identical weights.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -d data/train ] || scripts/fetch_training_photos.sh
$PY main.py train --stage psnr --out runs/x4_psnr --steps 1000000 --batch 16 --hr-size 128 --lr 5e-4 \
    --max-minutes 15 --threads 2 --degradation first --p-clean 0.5 --export runs/x4_psnr/ema.safetensors
$PY main.py train --stage gan --out runs/x4_gan --steps 1000000 --batch 8 --hr-size 96 --lr 2e-4 \
    --init runs/x4_psnr/last.pt --max-minutes 40 --threads 2 --degradation first --p-clean 0.5 --perceptual vgg \
    --export runs/x4_gan/ema.safetensors
