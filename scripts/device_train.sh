#!/usr/bin/env bash
# GAN training of the x4 generator on the device tool's H200, in one call that ends by itself inside
# the tool's 600 s command limit (docs/TRAINING.md, "On a lent GPU (H200)"). Run from the repository
# root with OUT set (the tool sets it) and `.device/` carried (built here by scripts/device_bundle.py):
#
#   1. installs the carried wheels into $SITE (PYTHONPATH) and unpacks the VGG16 (and, when carried,
#      AlexNet) weights into $RESTORER_CACHE_DIR, where restorer.weights finds them;
#   2. prints nvidia-smi and torch's view of CUDA;
#   3. builds the pool of degraded pairs (a zero-step run of `main.py train` on the CPU), timed;
#   4. trains the GAN stage (PERCEPTUAL: DISTS, v3's term; degradation mix) from .device/start.safetensors for the wall
#      time the budget leaves (BUDGET seconds from the start, less RESERVE for the train process's
#      start and the exports; MINUTES caps it), in $RUN (not under $OUT: a checkpoint is ~19 MB);
#   5. writes under $OUT at most 8 files: device.log, log.csv, ema.safetensors and gen.safetensors
#      (final EMA and raw generator; v2 shipped a raw one), kept.tar (ema_step_N and gen_step_N of up
#      to 4 kept checkpoints, spread over the run) and last.pt (each whole, or split as NAME.part0,
#      NAME.part1 when over 15 MiB: `cat` them back together), and checks each exported generator
#      with restorer.models.load_model on the device;
#   6. scores the start, the final and the kept generators on the bundle's held-out crops (bench.heldout
#      --set, LPIPS-Alex, the metric models are shipped on; LPIPS-VGG with a bundle that lacks AlexNet)
#      and prints the table into device.log, so the figures come back as text too.
# The GAN stage starts from .device/disc.pt's discriminator when the bundle has one (--disc) and
# no L1 stage runs before it.
# A larger generator from scratch in one call (docs/TRAINING.md, "Prepared for the next lent session"):
# INIT=none ARCH="--num-feat 64 --num-conv 16" PSNR_MINUTES=3 runs an L1 stage, then the GAN stage from
# its EMA; step 6 scores both beside the bundle's start (the shipped model). STAGE=psnr: the L1 stage only.
#
# CPU smoke test (here, beside a training run):
#   OUT=/tmp/devout DEVICE=cpu MINUTES=0.5 BATCH=2 POOL=200 THREADS=1 LOADER_WORKERS=1 \
#       PY=.venv/bin/python nice -n 19 scripts/device_train.sh
# (its step 6 then needs HELDOUT_S=300: LPIPS of 8 generators on 20 crops takes minutes on 2 cores, seconds on the GPU)
# Every setting below can be overridden from the environment. POOL_DIR and RUN are emptied first,
# so they must lie outside the repository.
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
: "${OUT:?set OUT to the folder whose files come back}"
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-560}           # seconds from start to the last file written under $OUT
RESERVE=${RESERVE:-60}          # of which: train process start (photos, LPIPS, CUDA) + final checkpoint + exports + held-out
MINUTES=${MINUTES:-}            # cap on the training wall time in minutes ('' = what the budget leaves)
BATCH=${BATCH:-48}
HR=${HR:-128}
LR=${LR:-1e-4}
POOL=${POOL:-60000}             # pairs; 128² HR: 3 GB in $POOL_DIR
POOL_DIR=${POOL_DIR:-/tmp/pool}
REFRESH=${REFRESH:-0.25}
WORKERS=${WORKERS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}
THREADS=${THREADS:-2}            # torch threads of the train process (its CPU work is data only)
LOADER_WORKERS=${LOADER_WORKERS:-4}  # processes that read the pool's batches (0 = in the train process)
SEED=${SEED:-21}
STAGE=${STAGE:-gan}             # gan: L1 + perceptual + GAN; psnr: L1 only
PERCEPTUAL=${PERCEPTUAL:-dists}  # the GAN stage's perceptual term: dists (restorer-x4 v3) or lpips-vgg (v2, the H200 runs of 2026-12-04)
INIT=${INIT:-.device/start.safetensors}  # none: the generator starts from scratch
PSNR_MINUTES=${PSNR_MINUTES:-}  # STAGE=gan: first an L1 stage of this many minutes from INIT, then the GAN stage from its EMA
PSNR_LR=${PSNR_LR:-2e-4}
ARCH=${ARCH:-}                  # generator shape flags of `main.py train` (default: INIT's shape), e.g. --num-feat 64 --num-conv 16
MIX_PROBS=${MIX_PROBS:-0.4,0.25,0.2,0.15}  # clean, web_jpeg, phone, second: v2's mix (scripts/train_x4_v2b.sh)
CKPT=${CKPT:-500}
KEEP=${KEEP:-500}
RUN=${RUN:-/tmp/devrun}
SITE=${SITE:-/tmp/site}
B=.device

mkdir -p "$OUT"
exec > >(tee -a "$OUT/device.log") 2>&1
heartbeat=
trap '[ -n "$heartbeat" ] && kill "$heartbeat" 2>/dev/null; sleep 1' EXIT  # and let tee finish device.log
since() { echo $(( $(date +%s) - T0 )); }
left_s() { local t=$(( BUDGET - 20 - $(since) )); echo $(( t < 30 ? 30 : t )); }  # a train process's timeout
say() { echo "[device_train +$(since)s] $*"; }
[ -f "$B/start.safetensors" ] && [ -d "$B/train" ] && [ -d "$B/vgg16" ] \
    || { say "no bundle: run scripts/device_bundle.py here and carry .device"; exit 2; }
for d in "$POOL_DIR" "$RUN"; do
    case "$(realpath -m "$d")/" in "$(pwd -P)"/*) say "$d: POOL_DIR and RUN must lie outside the repository"; exit 2;; esac
done
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=${TQDM_MININTERVAL:-30} RESTORER_CACHE_DIR=${RESTORER_CACHE_DIR:-/tmp/restorer-cache}

say "1. wheels -> $SITE, VGG16 and AlexNet -> $RESTORER_CACHE_DIR"
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$B"/whl/*.whl \
    || { say "wheel install failed"; exit 3; }
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
for net in vgg16 alex; do  # a bundle from before AlexNet was carried scores with LPIPS-VGG (step 6)
    [ -d "$B/$net" ] && { "$PY" scripts/device_bundle.py --unpack "$B/$net" "$RESTORER_CACHE_DIR" || exit 3; }
done
score_net=vgg16; [ -d "$B/alex" ] && score_net=alex

say "2. machine"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.sm --format=csv
nproc; free -g | head -2; df -h /tmp | tail -1
PERCEPTUAL="$PERCEPTUAL" "$PY" - <<'EOF' || exit 4
import os, torch, torchvision, PIL, numpy, safetensors, tqdm
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      "| torchvision", torchvision.__version__, "pillow", PIL.__version__, "numpy", numpy.__version__,
      "safetensors", safetensors.__version__, "tqdm", tqdm.__version__)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"{p.name}: {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs, capability {p.major}.{p.minor}")
from restorer.weights import backbone_state_dict, lpips_linear_weights
for net in ("vgg16", "alex"):
    try:
        print(f"LPIPS-{net} weights:", len(backbone_state_dict(net)), "backbone tensors,", len(lpips_linear_weights(net)), "linear layers")
    except Exception as e:  # AlexNet is optional (an older bundle); VGG16 is not
        print(f"LPIPS-{net} weights: missing ({e})")
        if net == "vgg16":
            raise
if os.environ["PERCEPTUAL"] == "dists":  # its alpha/beta come with the dists-pytorch wheel
    from restorer.weights import dists_weights
    print("DISTS weights: alpha", tuple(dists_weights()[0].shape))
EOF

common=(--data "$B/train" --prescale 1 --hr-size "$HR" --degradation mix --pool "$POOL_DIR" --pool-size "$POOL"
        --pool-refresh "$REFRESH" --workers "$WORKERS" --seed "$SEED" --mix-probs "$MIX_PROBS")
disc=()
[ -f "$B/disc.pt" ] && [ "$STAGE" = gan ] && [ -z "$PSNR_MINUTES" ] && disc=(--init-disc "$B/disc.pt")
init=(); [ "$INIT" != none ] && init=(--init "$INIT")
if [ -z "$ARCH" ] && [ "$INIT" != none ]; then  # the start's own shape (its restorer_arch: width, convolutions, ...)
    ARCH=$("$PY" -c "from safetensors.torch import load_file; a = load_file('$INIT')['restorer_arch'].tolist(); print(f'--num-feat {a[0]} --num-conv {a[1]}')") || exit 4
fi
read -r -a arch <<< "$ARCH"
say "3. pool: $POOL pairs of ${HR}² with $WORKERS workers in $POOL_DIR"
rm -rf /tmp/poolprep "$POOL_DIR"/hr.u8 "$POOL_DIR"/lr.u8 "$POOL_DIR"/meta.json   # a fresh pool for this run
t_pool=$(date +%s)
"$PY" main.py train --stage psnr --device cpu --steps 0 --threads 1 --out /tmp/poolprep "${common[@]}" \
    || { say "pool build failed"; exit 5; }
t_pool=$(( $(date +%s) - t_pool ))
say "pool ready in ${t_pool}s ($(( POOL / (t_pool > 0 ? t_pool : 1) )) pairs/s, process start and photo loading included)"

# (its sleep writes nowhere, so no orphan holds the log's pipe open after the kill below)
( while sleep 60 >/dev/null 2>&1; do
    log=$(ls -t "$RUN"/log.csv "$RUN.psnr"/log.csv 2>/dev/null | head -1)
    [ -n "$log" ] && say "$log: $(tail -1 "$log")"
    command -v nvidia-smi >/dev/null && say "GPU util %, MiB used: $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)"
  done ) &
heartbeat=$!
rm -rf "$RUN" "$RUN.psnr"
if [ -n "$PSNR_MINUTES" ]; then
    say "4a. L1 stage on $DEVICE for $PSNR_MINUTES min (batch $BATCH, lr $PSNR_LR) from $INIT ${ARCH} -> $RUN.psnr"
    cap=$("$PY" -c "print(min(int($PSNR_MINUTES * 60 + 60), $(left_s)))")
    TQDM_DISABLE=1 timeout -s TERM -k 20 "$cap" \
        "$PY" main.py train --stage psnr --device "$DEVICE" --out "$RUN.psnr" "${init[@]}" "${arch[@]}" \
        --steps 10000000 --batch "$BATCH" --lr "$PSNR_LR" --threads "$THREADS" --max-minutes "$PSNR_MINUTES" \
        --ckpt-every "$CKPT" --log-every 10 --loader-workers "$LOADER_WORKERS" "${common[@]}"
    say "L1 stage exited with $? (124: stopped by its timeout, after a checkpoint)"
    [ -f "$RUN.psnr/last.pt" ] || { say "L1 stage wrote no checkpoint"; exit 6; }
    init=(--init "$RUN.psnr/last.pt"); INIT="$RUN.psnr/last.pt (its EMA)"
fi
left=$(( BUDGET - RESERVE - $(since) ))
minutes=$("$PY" -c "m = max($left, 6) / 60; cap = '$MINUTES'; print(round(min(m, float(cap)) if cap else m, 2))")
say "4. $STAGE stage on $DEVICE for $minutes min (batch $BATCH, lr $LR, $PERCEPTUAL) from $INIT ${ARCH} ${disc[*]} -> $RUN"
# SIGTERM (checkpoint, then exit) if the train process outlives the budget.
TQDM_DISABLE=1 timeout -s TERM -k 20 "$(left_s)" \
    "$PY" main.py train --stage "$STAGE" --device "$DEVICE" --out "$RUN" "${init[@]}" "${arch[@]}" \
    --steps 10000000 --batch "$BATCH" --lr "$LR" --perceptual "$PERCEPTUAL" --threads "$THREADS" \
    --max-minutes "$minutes" --ckpt-every "$CKPT" --keep-every "$KEEP" --log-every 10 --loader-workers "$LOADER_WORKERS" "${common[@]}" "${disc[@]}"
status=$?
kill "$heartbeat" 2>/dev/null; heartbeat=
say "train exited with $status"

say "5. files -> $OUT"
if [ ! -f "$RUN/last.pt" ] && [ -f "$RUN.psnr/last.pt" ]; then
    say "the $STAGE stage wrote no checkpoint: returning the L1 stage's instead"
    rm -rf "$RUN"; mv "$RUN.psnr" "$RUN"
fi
[ -f "$RUN/last.pt" ] || { say "no checkpoint was written"; exit 6; }
cp "$RUN/log.csv" "$OUT/log.csv"
"$PY" - "$RUN" "$OUT" "$DEVICE" <<'EOF'
import csv, sys
from pathlib import Path
import torch
from restorer.models import load_model
from restorer.train.loop import export_generator

run, out, device = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
kept = sorted((int(p.stem.split("_")[1]), p) for p in run.glob("step_*.pt"))
last_step = torch.load(run / "last.pt", map_location="cpu", weights_only=True)["step"]
kept = [(s, p) for s, p in kept if s < last_step]
# the kept checkpoints nearest to 1/5 ... 4/5 of the run (the last one's are ema/gen.safetensors)
picks = sorted({min(kept, key=lambda sp: abs(sp[0] - f * last_step)) for f in (0.2, 0.4, 0.6, 0.8)} if kept else set())
(run / "kept").mkdir(exist_ok=True)
targets = [(run / "last.pt", out / f"{w}.safetensors", w) for w in ("ema", "gen")]
targets += [(p, run / "kept" / f"{w}_step_{s}.safetensors", w) for s, p in picks for w in ("ema", "gen")]
psnr = Path(f"{run}.psnr")  # PSNR_MINUTES: the L1 stage's EMA and log travel in kept.tar
if (psnr / "last.pt").exists():
    targets.append((psnr / "last.pt", run / "kept" / "psnr_ema.safetensors", "ema"))
    (run / "kept" / "psnr_log.csv").write_bytes((psnr / "log.csv").read_bytes())
dev = torch.device("cuda" if device == "cuda" and torch.cuda.is_available() else "cpu")
x = torch.rand(1, 3, 64, 64, device=dev)
for ck, dst, which in targets:
    export_generator(ck, dst, use_ema=which == "ema")
    try:  # a check only: the files are written either way
        m = load_model(str(dst)).to(dev)
        with torch.no_grad():
            y = m(x)
        print(f"{dst.name}: {ck.name}, scale {m.scale}, output {tuple(y.shape)} in [{y.min():.3f}, {y.max():.3f}]")
    except Exception as exc:  # noqa: BLE001
        print(f"{dst.name}: written from {ck.name}; load_model check failed: {exc}")
rows = list(csv.DictReader(open(run / "log.csv")))
if rows:
    a, b = rows[0], rows[-1]
    s0, s1, t0, t1 = int(a["step"]), int(b["step"]), float(a["elapsed_s"]), float(b["elapsed_s"])
    rate = f"{(s1 - s0) / (t1 - t0):.2f} steps/s after step {s0}" if s1 > s0 and t1 > t0 else "too short to time"
    print(f"{last_step} steps; log.csv: {s1} steps in {t1:.0f} s, {rate}; last row {dict(b)}")
EOF
# The tool returns at most 8 files of 16 MiB, 64 MiB in all: a file over 15 MiB goes as NAME.part0,
# NAME.part1, ... (`cat` them); when a wide generator's files would not fit, kept.tar keeps only the
# EMAs, then last.pt stays behind (the exports still come back).
MIB=$(( 1024 * 1024 ))
parts() { local n=$(( ($(stat -c %s "$1") + 15 * MIB - 1) / (15 * MIB) )); echo $(( n < 1 ? 1 : n )); }
put() { if [ "$(parts "$1")" -eq 1 ]; then cp "$1" "$OUT/"; else split -b 15M -d -a 1 "$1" "$OUT/$(basename "$1").part"; fi; }
over() {  # the 4 small files (device.log, log.csv, ema, gen) plus these, against the limits
    local files=4 bytes=$(( 2 * $(stat -c %s "$OUT/ema.safetensors") + MIB )) f
    for f in "$@"; do files=$(( files + $(parts "$f") )); bytes=$(( bytes + $(stat -c %s "$f") )); done
    [ "$files" -gt 8 ] || [ "$bytes" -gt $(( ${OUT_MIB:-60} * MIB )) ]
}
kept=()
[ -n "$(ls "$RUN/kept")" ] && tar -cf "$RUN/kept.tar" -C "$RUN/kept" . && kept=("$RUN/kept.tar")
if [ ${#kept[@]} -gt 0 ] && over "${kept[@]}" "$RUN/last.pt"; then
    say "over the tool's limits: kept.tar holds the EMAs only"
    tar -cf "$RUN/kept.tar" -C "$RUN/kept" --exclude 'gen_step_*' .
fi
skip_last=
over "${kept[@]}" "$RUN/last.pt" && { skip_last=1; say "still over: last.pt stays behind (sha256 below)"; }
for f in "${kept[@]}"; do put "$f"; done
[ -z "$skip_last" ] && put "$RUN/last.pt"
sha256sum "$RUN/last.pt" | sed "s|$RUN/||"
ls -l "$OUT"

say "6. held-out crops (LPIPS-$score_net), into this log"
if [ -f "$B/heldout_x4.npz" ]; then
    models=(--model start="$B/start.safetensors" --model ema="$OUT/ema.safetensors" --model gen="$OUT/gen.safetensors")
    for f in "$RUN"/kept/*.safetensors; do [ -f "$f" ] && models+=(--model "$(basename "$f" .safetensors)=$f"); done
    dev=$DEVICE; [ "$dev" = cuda ] && ! "$PY" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null && dev=cpu
    timeout "${HELDOUT_S:-90}" "$PY" -m bench.heldout --set "$B/heldout_x4.npz" --quick --lpips-net "$score_net" --device "$dev" \
        --title "Held-out, scored on the device" --out "$RUN/heldout" "${models[@]}" | grep -v '^[a-z_0-9]* {' \
        || say "held-out scoring failed (the files above are complete)"
fi
say "done"
sleep 1  # let tee finish device.log
