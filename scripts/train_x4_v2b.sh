#!/usr/bin/env bash
# restorer-x4 v2, branch b (issue 11): the GAN stage started directly from the shipped v1 weights
# (already sharp on clean inputs: held-out bicubic track 0.099 against 0.157 for the L1 stage of
# scripts/train_x4_v2.sh) on the same 40 %-clean degradation mix, own pool, lr 1e-4 (a fine-tune of a
# GAN-trained generator). Compared with scripts/train_x4_v2.sh at equal steps (same batch, same step
# cost). The learning rate halves at step 2,200, where the raw generator's held-out curve had been flat
# for 1,500 steps (bench/results/heldout_x4v2b_curve.md). Resumable: rerun to continue. Run at normal priority; everything else under `nice -n 19`.
# (--init is the bundled file, v1 when this ran: docs/TRAINING.md, "Which bundled file a run started from".)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
$PY main.py train --stage gan --out runs/x4v2b_gan --steps 1000000 --batch 6 --lr 1e-4 --lr-halve-at 2200 --perceptual lpips-vgg \
    --init weights/restorer_x4.safetensors --max-minutes "${GAN_MINUTES:-600}" --ckpt-every 25 --keep-every 100 \
    --pool runs/pool_x4b --mix-probs 0.4,0.25,0.2,0.15 \
    --data runs/data/train --degradation mix --pool-size 12000 --pool-refresh 0.25 \
    --hr-size 128 --workers 2 --threads "${THREADS:-2}" --seed 12 --export runs/x4v2b_gan/ema.safetensors
