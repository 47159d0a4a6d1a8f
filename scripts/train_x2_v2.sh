#!/usr/bin/env bash
# restorer-x2 v2 (issue 11's matching x2 model): x4 v2's recipe (scripts/train_x4_v2b.sh, branch b)
# at x2. The GAN stage starts from the shipped restorer-x2 weights (issue 5: second-order
# degradations only, 0.95x bicubic's LPIPS-Alex on the realistic track) on the 40 %-clean degradation
# mix, own pool, batch 6 x 128^2, lr 1e-4, fresh discriminator. RUN (default x2v2, the run of x2 v2-v4) names
# the run and its pool; PERCEPTUAL is the perceptual term (lpips-vgg, or dists as x4 v3). A new run starts from
# the bundled file (v4 since): RUN=x2dists PERCEPTUAL=dists is docs/TRAINING.md's DISTS fine-tune of v4.
# Resumable: rerun to continue. Run at normal priority; everything else under `nice -n 19`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -d data/train ] || scripts/fetch_training_photos.sh
scripts/split_training_photos.sh
RUN=${RUN:-x2v2}
$PY main.py train --stage gan --scale 2 --out runs/${RUN}_gan --steps 1000000 --batch 6 --lr 1e-4 --perceptual "${PERCEPTUAL:-lpips-vgg}" \
    --init weights/restorer_x2.safetensors --max-minutes "${GAN_MINUTES:-600}" --ckpt-every 25 --keep-every 100 \
    --pool runs/pool_${RUN} --mix-probs 0.4,0.25,0.2,0.15 \
    --data runs/data/train --degradation mix --pool-size 12000 --pool-refresh 0.25 \
    --hr-size 128 --workers 2 --threads "${THREADS:-2}" --seed 14 --export runs/${RUN}_gan/ema.safetensors
