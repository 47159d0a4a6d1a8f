#!/usr/bin/env bash
# The deeper x4 candidate (issue 11; named "v3 candidate" before the DISTS model shipped as v3; not
# shipped): v2 grown deeper. v2's held-out curve (scripts/train_x4_v2b.sh,
# bench/results/heldout_x4v2b_curve.md) was flat from GAN step ~700 to 2,700, with the learning rate
# halved at 2,200, so the 0.35 M-parameter generator, not the step count, looked like the limit.
# This run starts a 24-convolution generator (12 residual blocks, 1.46x the MACs: still inside the
# 1.0x-SRVGGNetCompact-x4v3 speed budget) from v2: the first 8 blocks are v2's, the 4 new ones start
# as the identity (--init-partial), and the discriminator is v2's run's, so step 0 is v2 exactly.
# Same data, mix, losses and batch as v2. Resumable: rerun to continue. Run at normal priority;
# everything else under `nice -n 19`.
# (--init is the bundled file, v2 when this ran: docs/TRAINING.md, "Which bundled file a run started from".)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
INIT_DISC=${INIT_DISC:-runs/x4v2b_gan/step_1800.pt}
$PY main.py train --stage gan --out runs/x4v3_gan --steps 1000000 --batch 6 --lr 1e-4 --perceptual lpips-vgg \
    --num-conv 24 --init weights/restorer_x4.safetensors --init-partial --init-disc "$INIT_DISC" \
    --max-minutes "${GAN_MINUTES:-600}" --ckpt-every 25 --keep-every 100 \
    --pool runs/pool_x4c --mix-probs 0.4,0.25,0.2,0.15 \
    --data runs/data/train --degradation mix --pool-size 12000 --pool-refresh 0.25 \
    --hr-size 128 --workers 2 --threads "${THREADS:-2}" --seed 13 --export runs/x4v3_gan/ema.safetensors
