#!/usr/bin/env bash
# Time variants of the scoring loop on the IMDB test split's chunks and profile the default
# (bench/variants.py): batch budgets, padding, bf16 weights, torch.compile when named.
#   MODEL (default longbert/model), DATA (a directory of test.parquet; unset: the Hub), OUT (runs/gpu),
#   LIMIT=N scores N reviews (a dry run); VARIANTS='a;b' picks variants by name; REPEATS=N (2).
set -euo pipefail
source "$(dirname "$0")/common.sh"
OUT=${OUT:-runs/gpu}; mkdir -p "$OUT"
python -m bench.variants --model "${MODEL:-longbert/model}" "${data[@]}" --texts "${LIMIT:-25000}" \
  --repeats "${REPEATS:-2}" ${VARIANTS:+--variants "$VARIANTS"} --out "$OUT/variants" 2>&1 | tee "$OUT/variants.log"
