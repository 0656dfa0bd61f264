#!/usr/bin/env bash
# GPU call 2, on the same warm machine (its .device/model is kept), carrying .device after
# `prepare.sh test`: the full-split evaluation and the GPU benchmark. LIMIT=N BENCH_ARGS="--long 600" for a dry run.
set -euo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python -m pip install -q --no-index --no-deps --target /tmp/site .device/belt_nlp-*.whl && export PYTHONPATH=/tmp/site
limit=(); [ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")
texts=${LIMIT:-25000}
start=$(date +%s)
python -m eval --model .device/model --data .device/imdb "${limit[@]}" --out "$OUT/imdb-test" --quiet \
  2>&1 | tee "$OUT/eval.log"
echo "eval_seconds_end_to_end $(( $(date +%s) - start ))" | tee -a "$OUT/eval.log"
rm -rf "$OUT/imdb-test/cache"
python -m bench --model .device/model --data .device/imdb --texts "$texts" ${BENCH_ARGS:---long 5000,20000,100000 --million} \
  --out "$OUT/bench_gpu.md" 2>&1 | grep -v "Token indices" | tee "$OUT/bench.log"
