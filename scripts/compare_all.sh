#!/usr/bin/env bash
# Every comparison of docs/RESULTS.md, resumable: the point sets (four 2-D datasets and the 32-D
# mixture, five seeds), 8x8 digits and MNIST -> digits translation (three seeds each), each with
# k-RF, k-RF + distill, the Bezier variants and the field's few-step baselines. The three runs go
# side by side with one thread each (several hours on two cores); rerun the same command after an
# interruption: --resume keeps every finished stage and shard. Then the ranking tables:
#   python scripts/ranking_table.py runs/compare-2d
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
mkdir -p runs
for suite in 2d digits translation; do
    config="configs/compare-$suite.toml"
    if [ -f "runs/compare-$suite/config.json" ]; then resume=--resume; else resume=; fi
    bezier-distill compare --config "$config" $resume > "runs/compare-$suite.log" 2>&1 &
done
wait
