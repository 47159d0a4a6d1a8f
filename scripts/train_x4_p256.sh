#!/usr/bin/env bash
# Ablation (issue 11): is the ×4 GAN stage held back by its 32² LR patches? Every ×4 run so far
# (v2b, v3 deeper, the wide and teacher runs, the H200's) trained on 128² HR / 32² LR patches, so
# nearly every output pixel's receptive field (18 convolutions: ±18 LR px) reaches the zero padding;
# Real-ESRGAN trains ×4 on 256² HR / 64² LR. Same as scripts/train_x4_v2b.sh (GAN stage from the
# shipped v2, 40 %-clean mix, lr 1e-4, fresh discriminator) but 256² HR patches, batch 2 (8 × 128²
# worth of pixels per step against 6). Resumable: rerun to continue. Normal priority.
# (--init is the bundled file, v2 when this ran: docs/TRAINING.md, "Which bundled file a run started from".)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/x4p256_gan}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
$PY main.py train --stage gan --out "$OUT" --steps 1000000 --batch "${BATCH:-2}" --lr 1e-4 --perceptual lpips-vgg \
    --init weights/restorer_x4.safetensors --max-minutes "${GAN_MINUTES:-600}" --ckpt-every 25 --keep-every 100 \
    --pool runs/pool_x4p256 --mix-probs 0.4,0.25,0.2,0.15 \
    --data runs/data/train --degradation mix --pool-size 4000 --pool-refresh 0.25 \
    --hr-size 256 --workers 2 --threads "${THREADS:-2}" --seed 15 --export "$OUT/ema.safetensors"
