#!/usr/bin/env bash
# restorer-x4 from restorer-x2 (issue 11): x4 v2's recipe (scripts/train_x4_v2b.sh: GAN stage, 40 %-clean
# degradation mix, batch 6 x 128^2, lr 1e-4, fresh discriminator, own pool), started from the shipped
# restorer-x2 (v4: 8,000 GAN steps on 64^2 LR patches, against x4 v2's 1,816 on 32^2) grown to x4 by
# --init-partial (same body; each x2 sub-pixel of the tail repeated 2x2). Untrained, that start already
# beat x4 v2 on the held-out bicubic and web-JPEG tracks. NUM_FEAT and NUM_CONV (with RUN, a run name)
# grow it wider or deeper as well (function-preserving: new features unread, new blocks identity).
# CASCADE_FEAT (and CASCADE_CONV, default 8) makes it a two-stage RestorerCascade instead: restorer-x2 as
# stage 1, then a second x2 stage of that size at 2x LR, started from restorer-x2's leading blocks.
# POOL reuses another run's pool folder (default runs/pool_$RUN).
# Resumable: rerun to continue. Run at normal priority; everything else under `nice -n 19`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
RUN=${RUN:-x4x2}
$PY main.py train --stage gan --scale 4 --out runs/${RUN}_gan --num-feat "${NUM_FEAT:-48}" --num-conv "${NUM_CONV:-16}" \
    --cascade-feat "${CASCADE_FEAT:-0}" --cascade-conv "${CASCADE_CONV:-8}" --steps 1000000 --batch 6 --lr 1e-4 \
    --perceptual lpips-vgg \
    --init "${INIT:-weights/restorer_x2.safetensors}" --init-partial --max-minutes "${GAN_MINUTES:-600}" \
    --ckpt-every 25 --keep-every 100 --pool "${POOL:-runs/pool_$RUN}" --mix-probs 0.4,0.25,0.2,0.15 \
    --data runs/data/train --degradation mix --pool-size 12000 --pool-refresh 0.25 \
    --hr-size 128 --workers 2 --threads "${THREADS:-2}" --seed 15 --export runs/${RUN}_gan/ema.safetensors
