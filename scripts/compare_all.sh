#!/usr/bin/env bash
# Every comparison of docs/RESULTS.md, resumable: the point sets (four 2-D datasets and the 32-D
# mixture, five seeds), 8x8 digits and MNIST -> digits translation (three seeds each), each with
# k-RF, k-RF + distill, the Bezier variants and the field's few-step baselines. The three runs go
# side by side with one thread each (several hours on two cores); rerun the same command after an
# interruption: --resume keeps every finished stage and shard. Then the translation with
# class-paired teachers and the paired tasks (superres, inpaint, denoise of digits), two at a
# time. Then the ranking tables:
#   python scripts/ranking_table.py runs/compare-2d
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
mkdir -p runs
run() {
    local suite=$1 resume=
    if [ -f "runs/compare-$suite/config.json" ]; then resume=--resume; fi
    bezier-distill compare --config "configs/compare-$suite.toml" $resume > "runs/compare-$suite.log" 2>&1
}
for suite in 2d digits translation; do run "$suite" & done
wait
# then the translations that keep content: class-paired teachers, and the paired tasks
for suite in translation-class tasks; do run "$suite" & done
wait
