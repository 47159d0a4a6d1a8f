#!/usr/bin/env bash
# restorer-x4, distillation stage (issue 11): v2 trained with L1 only, against the HR patch and against
# Real-ESRGAN x4plus's output on the same LR patch (weights 1 : TEACHER_W). L1 to the teacher is not
# ambiguous the way L1 to HR is (the teacher is a function of the LR patch), so it might stay sharp
# without the GAN stage's discriminator and LPIPS-VGG, at about 10x the steps per hour. Measured: it does
# not (held-out bicubic track 0.090 -> 0.147 in 1,283 steps; docs/TRAINING.md). Reuses the
# teacher pool of scripts/train_x4_teacher.sh (same photos, mix, seed and size). Resumable.
# (--init is the bundled file, v2 when this ran: docs/TRAINING.md, "Which bundled file a run started from".)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
$PY main.py train --stage psnr --out runs/x4d_l1 --steps 1000000 --batch 16 --lr "${LR:-1e-4}" \
    --init weights/restorer_x4.safetensors --teacher realesrgan-x4plus --w-teacher "${TEACHER_W:-1.0}" \
    --max-minutes "${MINUTES:-600}" --ckpt-every 250 --keep-every 500 \
    --pool runs/pool_x4t --pool-size 4000 --pool-refresh 0 --mix-probs 0.4,0.25,0.2,0.15 \
    --data runs/data/train --degradation mix --hr-size 128 --workers 2 --threads "${THREADS:-2}" --seed 13 \
    --export runs/x4d_l1/ema.safetensors
