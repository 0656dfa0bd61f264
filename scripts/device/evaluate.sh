#!/usr/bin/env bash
# GPU call 2, after receive.sh, carrying .device/test and the BELT wheel: the full-split evaluation
# and the GPU benchmark of the model in longbert/model/ (it travels with the working tree, so this
# call does not need call 1's machine). LIMIT=N BENCH_ARGS="--long 600" for a dry run; METHODS and BASELINE
# (reviews for the article loop and BELT) narrow the benchmark, BENCH_ARGS="--long=" drops the long texts.
set -euo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
MODEL=${MODEL:-longbert/model}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python -m pip install -q --no-index --no-deps --target /tmp/site .device/belt_nlp-*.whl && export PYTHONPATH=/tmp/site
limit=(); [ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")
texts=${LIMIT:-25000}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
start=$EPOCHREALTIME
python -m eval --model "$MODEL" --data .device/test "${limit[@]}" --out "$OUT/imdb-test" --quiet 2>&1 | tee "$OUT/eval.log"
echo "eval_seconds_end_to_end $(awk "BEGIN {print $EPOCHREALTIME - $start}")" | tee -a "$OUT/eval.log"
rm -rf "$OUT/imdb-test/cache"
tar czf "$OUT/imdb-test.tgz" -C "$OUT" imdb-test && rm -rf "$OUT/imdb-test"  # one file back, whatever its parts
# The article loop and BELT score a random 5,000 of the reviews (about 20 s each); longbert all of them.
python -m bench --model "$MODEL" --data .device/test --texts "$texts" --baseline-texts "${BASELINE:-5000}" \
  --methods "${METHODS:-article,belt,longbert,longbert-serial}" ${BENCH_ARGS:---long 5000,20000,100000 --million} \
  --out "$OUT/bench_gpu.md" 2>&1 | grep -v "Token indices" | tee "$OUT/bench.log"
