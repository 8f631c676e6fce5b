#!/usr/bin/env bash
# The regime sweep of docs/RESULTS.md ("Where the premise holds"): every config in
# configs/regimes/, two at a time with one thread each, resumable (rerun after an interruption).
# The reference regimes are configs/accumulation-2d.toml and configs/accumulation-digits.toml.
# Then: python scripts/regime_table.py runs/accumulation-2d runs/regimes/points-* \
#           runs/accumulation-digits runs/regimes/images-*
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
mkdir -p runs/regimes
run() {
    local name out
    name=$(basename "$1" .toml)
    out="runs/regimes/$name"
    if [ -f "$out/config.json" ]; then set -- "$1" --resume; fi
    bezier-distill compare --config "$@" > "runs/regimes/$name.log" 2>&1
}
configs=(configs/regimes/*.toml)
for ((i = 0; i < ${#configs[@]}; i += 2)); do
    run "${configs[i]}" &
    if ((i + 1 < ${#configs[@]})); then run "${configs[i + 1]}" & fi
    wait
done
