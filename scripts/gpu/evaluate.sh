#!/usr/bin/env bash
# Evaluate a model on the whole IMDB test split and benchmark it against the article's loop and BELT,
# on a CUDA machine (it runs on a CPU too, slowly). Run from the repository root with longbert and its
# eval extra installed; BELT (pip install belt-nlp==1.1.0, in the dev extra) for its benchmark rows.
#   MODEL  the model (default longbert/model, the bundled one); DATA the IMDB test reviews: a directory
#          of test.parquet, or unset for the Hub; OUT (default runs/gpu)
#   LIMIT=N evaluates N reviews (a dry run); METHODS and BASELINE (reviews for the article loop and
#   BELT, default 5,000) narrow the benchmark; BENCH_ARGS="--long=" drops its long synthetic texts.
# Writes OUT/imdb-test/ (a results directory: python -m eval.figures draws its figures where plotly is
# missing), OUT/eval.log, OUT/bench_gpu.md (rewritten after each measurement) and OUT/bench.log.
set -euo pipefail
source "$(dirname "$0")/common.sh"
OUT=${OUT:-runs/gpu}; mkdir -p "$OUT"
MODEL=${MODEL:-longbert/model}
methods=${METHODS:-article,belt,longbert,longbert-serial}
if ! python -c "import belt_nlp" 2>/dev/null; then
  methods=$(echo "$methods" | tr , '\n' | grep -vx belt | paste -sd, -)
  echo "BELT is not installed (pip install belt-nlp==1.1.0): benchmarking $methods"
fi
start=$EPOCHREALTIME
python -m eval --model "$MODEL" "${data[@]}" "${limit[@]}" --out "$OUT/imdb-test" --quiet 2>&1 | tee "$OUT/eval.log"
echo "eval_seconds_end_to_end $(awk "BEGIN {print $EPOCHREALTIME - $start}")" | tee -a "$OUT/eval.log"
rm -rf "$OUT/imdb-test/cache"
python -m bench --model "$MODEL" "${data[@]}" --texts "${LIMIT:-25000}" --baseline-texts "${BASELINE:-5000}" \
  --methods "$methods" ${BENCH_ARGS:---long 5000,20000,100000 --million} --out "$OUT/bench_gpu.md" 2>&1 \
  | grep -v "Token indices" | tee "$OUT/bench.log"
