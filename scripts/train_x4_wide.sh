#!/usr/bin/env bash
# restorer-x4, wider candidate (issue 11): v2 widened from 48 to 64 features (0.63 MMAC per LR pixel, still
# about 2x SRVGGNetCompact-x4v3's speed), starting as v2 exactly (--init-partial: the old weights in the
# leading channels, zero weights from the new ones), then the GAN stage with the teacher term, on the teacher
# pool of scripts/train_x4_teacher.sh. That run (same data, losses, lr, batch; width 48) is the control:
# three runs at width 48 stayed in one flat band, so this measures whether capacity is the limit.
# Resumable: rerun to continue. Run at normal priority; everything else under `nice -n 19`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
$PY main.py train --stage gan --out runs/x4w_gan --steps 1000000 --batch 6 --lr 1e-4 --perceptual lpips-vgg \
    --num-feat 64 --init weights/restorer_x4.safetensors --init-partial --init-disc runs/x4t_gan/last.pt \
    --teacher realesrgan-x4plus --w-teacher 1.0 \
    --max-minutes "${GAN_MINUTES:-600}" --ckpt-every 25 --keep-every 100 \
    --pool runs/pool_x4t --pool-size 4000 --pool-refresh 0 --mix-probs 0.4,0.25,0.2,0.15 \
    --data runs/data/train --degradation mix --hr-size 128 --workers 2 --threads "${THREADS:-2}" --seed 13 \
    --export runs/x4w_gan/ema.safetensors
