#!/usr/bin/env bash
# GPU call 3 (optional, carrying .device/test): time variants of the scoring loop on all 25,000 test
# reviews' chunks with the model in longbert/model/, and profile the default (bench/variants.py).
# LIMIT=N scores N reviews (a dry run); VARIANTS='a;b' picks variants by name (bench/variants.py), REPEATS=N.
set -euo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python -m bench.variants --model "${MODEL:-longbert/model}" --data .device/test --texts "${LIMIT:-25000}" \
  --repeats "${REPEATS:-2}" ${VARIANTS:+--variants "$VARIANTS"} --out "$OUT/variants" 2>&1 | tee "$OUT/variants.log"
