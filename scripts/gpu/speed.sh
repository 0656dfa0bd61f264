#!/usr/bin/env bash
# The GPU path toward the hardware's limit (#18), in one call: every scoring-loop variant on the IMDB test split's
# chunks (tighter width buckets, torch.compile, CUDA graphs; bench/variants.py), then the split end to end against
# the article's loop and BELT in the same run (python -m bench). Runs on a CPU too, slowly (a dry run).
#   MODEL (default longbert/model), DATA (a directory of test.parquet; unset: the Hub), OUT (runs/gpu),
#   LIMIT=N scores N reviews (a dry run); VARIANTS='a;b' (default: all, the compiled ones included);
#   BASELINE (reviews for the article loop and BELT, default 2,000); REPEATS (default 3).
# Writes OUT/speed_variants.json, OUT/speed_variants_profile.txt, OUT/speed.log and OUT/bench_speed.md.
set -euo pipefail
source "$(dirname "$0")/common.sh"
OUT=${OUT:-runs/gpu}; mkdir -p "$OUT"
MODEL=${MODEL:-longbert/model}
all=$(python -c "from bench.variants import VARIANTS; print(';'.join(VARIANTS))")
methods=article,belt,longbert
python -c "import belt_nlp" 2>/dev/null || { methods=article,longbert; echo "BELT is not installed: $methods"; }
python -m bench.variants --model "$MODEL" "${data[@]}" --texts "${LIMIT:-25000}" --repeats "${REPEATS:-3}" \
  --variants "${VARIANTS:-$all}" --out "$OUT/speed_variants" 2>&1 | tee "$OUT/speed.log"
python -m bench --model "$MODEL" "${data[@]}" --texts "${LIMIT:-25000}" --baseline-texts "${BASELINE:-2000}" \
  --methods "$methods" --long= --out "$OUT/bench_speed.md" 2>&1 | grep -v "Token indices" | tee -a "$OUT/speed.log"
