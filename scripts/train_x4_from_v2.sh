#!/usr/bin/env bash
# Ablations from restorer-x4 v2 (issue 11; shipped until v3): x4 v2's recipe (scripts/train_x4_v2b.sh: GAN stage,
# 40 %-clean degradation mix, batch 6 x 128^2, lr 1e-4, own pool) from v2 with a fresh discriminator, seed 16,
# so every arm sees the same pairs and batches. W_LDL: LDL's artefact term (Liang et al. CVPR 2022; the
# paper's weight is 1.0); PERCEPTUAL: the perceptual term (lpips-vgg as v2, or dists); LR: the learning rate (a
# resumed run takes the new one); D_FEAT: the discriminator's width (32; Real-ESRGAN's is 64); W_PERCEP: the
# perceptual term's weight (1, Real-ESRGAN's). The runs of
# docs/TRAINING.md: RUN=x4ldl W_LDL=1, RUN=x4ldl0 (the control), RUN=x4dists PERCEPTUAL=dists. They started from
# v2; the bundled file is v3 since: `git show 07b1233:weights/restorer_x4.safetensors > runs/x4_v2.safetensors`
# and INIT=runs/x4_v2.safetensors reproduce them (INIT only matters for a new run: a rerun resumes from last.pt).
# Resumable: rerun to continue. Run at normal priority; everything else under `nice -n 19`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
RUN=${RUN:-x4ldl0}
$PY main.py train --stage gan --out runs/${RUN}_gan --steps 1000000 --batch 6 --lr "${LR:-1e-4}" \
    --perceptual "${PERCEPTUAL:-lpips-vgg}" --w-ldl "${W_LDL:-0}" --d-feat "${D_FEAT:-32}" --w-percep "${W_PERCEP:-1}" --init "${INIT:-weights/restorer_x4.safetensors}" \
    --max-minutes "${GAN_MINUTES:-600}" --ckpt-every 25 --keep-every 100 --pool runs/pool_${RUN} \
    --mix-probs 0.4,0.25,0.2,0.15 --data runs/data/train --degradation mix --pool-size 12000 --pool-refresh 0.25 \
    --hr-size 128 --workers 2 --threads "${THREADS:-2}" --seed 16 --export runs/${RUN}_gan/ema.safetensors
