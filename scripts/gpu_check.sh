#!/usr/bin/env bash
# The Fashion-MNIST 28x28 chain on one GPU: 1-RF -> pairs -> 2-RF -> distill, and
# guide -> Bezier Distillation, each scored by the feature FID at 1 NFE (teachers also at
# dopri5). Prints the time of every stage and a table of FIDs. Sizing: a first run on an
# H200 at batch 256, 4,000 + 3 x 2,000 steps and 5,000 evaluation samples did not finish in
# 9 minutes (docs/RESULTS.md); these defaults halve the training work and cut evaluation,
# aiming at under 10 minutes on one H100 (not yet rerun on a GPU).
#
#   bash scripts/gpu_check.sh [OUT]            # default OUT: runs/gpu_check
#   DEVICE=cpu SCALE=0.01 bash scripts/gpu_check.sh /tmp/gc   # a tiny dry run on the CPU
#
# Then the compute frontier at small scale (FRONTIER=0 skips it): `compare` on Fashion-MNIST
# 14x14, one seed, k-RF + distill for k = 1, 2, 3 against the Bezier recipes from the 1-RF
# (`end`, `chord` and the true-teacher-state control `end/grid`), the recipes also trained to the
# compute of 2-RF and 3-RF + distill; its frontier.png and report.md land in OUT/frontier.
#
# Environment: DEVICE (cuda), PRECISION (bf16), CHANNELS, BLOCKS (the UNet), SCALE (1: multiplies steps and pair
# counts), DATA_DIR (Fashion-MNIST IDX folder; default: the Debian package's), FRONTIER (1), PYTHON.
set -euo pipefail
OUT=${1:-runs/gpu_check}
DEVICE=${DEVICE:-cuda}
PRECISION=${PRECISION:-bf16}
SCALE=${SCALE:-1}
PYTHON=${PYTHON:-python3}
DATA=(--data-dir "${DATA_DIR:-/usr/share/datasets/fashion-mnist}")
n() { "$PYTHON" -c "print(max(2, int($1 * $SCALE)))"; }
STEPS=$(n 3000)
PAIRS=$(n 10000)
EVAL=$(n 2000)
UNET=(--channels "${CHANNELS:-64,128,256}" --blocks "${BLOCKS:-2}")
OPT=(--device "$DEVICE" --precision "$PRECISION" --batch-size 128 --seed 0)
bd() { "$PYTHON" -m bezier_distill.cli "$@"; }
mkdir -p "$OUT"
: >"$OUT/timings.txt"
stage() {
  local name=$1
  shift
  local t0=$SECONDS
  "$@"
  echo "$name $((SECONDS - t0))" | tee -a "$OUT/timings.txt"
}
"$PYTHON" - <<EOF
import torch
print("torch", torch.__version__, "| device:", torch.cuda.get_device_name(0) if "$DEVICE".startswith("cuda") else "cpu")
EOF
stage "1-RF" bd train --data fashion "${DATA[@]}" "${UNET[@]}" "${OPT[@]}" --steps "$STEPS" --out "$OUT/rf1" --overwrite
stage "pairs" bd reflow --model "$OUT/rf1" "${DATA[@]}" --device "$DEVICE" --solver dopri5 --rtol 1e-4 --atol 1e-4 \
  --n-pairs "$PAIRS" --shard-size 5000 --out "$OUT/pairs1" --overwrite
stage "2-RF" bd train --pairs "$OUT/pairs1" "${OPT[@]}" --steps "$((STEPS / 2))" --out "$OUT/rf2" --overwrite
stage "pairs2" bd reflow --model "$OUT/rf2" "${DATA[@]}" --device "$DEVICE" --solver dopri5 --rtol 1e-4 --atol 1e-4 \
  --n-pairs "$PAIRS" --shard-size 5000 --out "$OUT/pairs2" --overwrite
stage "2-RF+distill" bd distill --pairs "$OUT/pairs2" "${OPT[@]}" --steps "$((STEPS / 2))" --k 1 --out "$OUT/d2" --overwrite
stage "guide" bd guide --teachers "$OUT/rf1" "${DATA[@]}" --teacher-solvers dopri5 --degree 2 --guides state \
  --device "$DEVICE" --n-pairs "$PAIRS" --shard-size 5000 --out "$OUT/guided" --overwrite
stage "Bezier" bd bezier --coupling "$OUT/guided" "${OPT[@]}" --steps "$((STEPS / 2))" --objective end --out "$OUT/bez" --overwrite
EVALS=()  # the evaluation files this run writes, in order, for the table
ev() {
  EVALS+=("$OUT/eval_$1_$2.json")
  bd evaluate --model "$OUT/$1" "${DATA[@]}" --device "$DEVICE" --n "$EVAL" --out "$OUT/eval_$1_$2.json" \
    --overwrite "${@:3}" >/dev/null
}
stage "eval rf1 dopri5" ev rf1 ode --solver dopri5 --rtol 1e-4 --atol 1e-4
for m in rf1 rf2 d2 bez; do
  stage "eval $m euler1" ev "$m" nfe1 --solver euler --solver-steps 1
done
echo "chain $SECONDS (the target is under 600 on one H100)" | tee -a "$OUT/timings.txt"
if [ "${FRONTIER:-1}" = 1 ]; then
  stage "frontier" bd compare --datasets fashion:size=14 "${DATA[@]}" --device "$DEVICE" --seeds 0 \
    --steps "$(n 1000)" --batch-size 128 --channels 32,64 --n-pairs "$(n 4000)" --n-eval "$EVAL" \
    --teacher-solver rk4:10 --rectifications 3 --degrees 2 --teacher-sets 1-RF \
    --objectives end,chord,end/grid --baselines "" --equal-compute 2,3 --out "$OUT/frontier" --overwrite \
    >"$OUT/frontier.log"
fi
echo "total $SECONDS" | tee -a "$OUT/timings.txt"
"$PYTHON" - "$OUT" "${EVALS[@]}" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
names = {"rf1": "1-RF", "rf2": "2-RF", "d2": "2-RF + distill", "bez": "Bezier n=2 [1-RF] end"}
print(f"\n{'model':<24}{'solver':<10}{'NFE':>6}{'FID (a)':>9}{'FID (b)':>9}{'KID':>9}{'W2':>9}"
      f"{'distill err':>12}{'sample s':>10}")
floor = None
fmt = lambda v, spec: format(v, spec) if v is not None else "-".rjust(int(spec.split(".")[0]))  # noqa: E731
for f in map(pathlib.Path, sys.argv[2:]):
    r = json.loads(f.read_text())
    s, floor = r["scores"], r["noise_floor"]
    m = f.stem.split("_")[1]
    print(f"{names[m]:<24}{r['solver']:<10}{s['nfe']:>6}{fmt(s['fid'], '9.3f')}{fmt(s['fid_b'], '9.3f')}"
          f"{s['kid']:>9.4f}{s['w2']:>9.3f}{fmt(s['distill_error'], '12.3g')}{s['sample_seconds']:>10.2f}")
print(f"{'noise floor (train vs test)':<40}{fmt(floor['fid'], '9.3f')}{fmt(floor.get('fid_b'), '9.3f')}"
      f"{floor['kid']:>9.4f}")
print("\nseconds per stage:")
print(pathlib.Path(out, "timings.txt").read_text())
EOF
