#!/usr/bin/env bash
# #17 from one command: within-task MLM pretraining of the base on the IMDB training texts (scripts/gpu/mlm.py),
# then two fine-tunings of that encoder with the same data, budget and seed: pooled chunks in the loss (the
# candidate default) and head 510 in the loss (the truncation-trained twin), then both evaluated on the test split
# over the committed grid. Each stage is chosen by validation inside its own script, never by test.
#   BASE (a directory or Hub id; default sentence-transformers/all-MiniLM-L6-v2), DATA (a directory of
#   train/test.parquet; unset: the Hub), OUT (runs/gpu/indomain), MLM_EPOCHS (3), MLM_LR (5e-5), EPOCHS (3),
#   LR (5e-5), LIMIT=N (a dry run: N training and N test reviews),
#   STAGES (default "mlm pooled head evaluate"; the GPU machine carries at most 64 MiB, so run
#   "mlm pooled head" with train.parquet and "evaluate" with test.parquet in two calls there).
# Writes OUT/mlm (encoder + mlm.json), OUT/pooled and OUT/head (models + training.json), OUT/results/{pooled,head}.
set -euo pipefail
source "$(dirname "$0")/common.sh"
OUT=${OUT:-runs/gpu/indomain}; mkdir -p "$OUT"
DATA_ARG=${DATA:-imdb}
for stage in ${STAGES:-mlm pooled head evaluate}; do
  start=$EPOCHREALTIME
  case $stage in
    mlm) python scripts/gpu/mlm.py --base "${BASE:-sentence-transformers/all-MiniLM-L6-v2}" --data "$DATA_ARG" \
           --out "$OUT/mlm" --epochs "${MLM_EPOCHS:-3}" --lr "${MLM_LR:-5e-5}" "${limit[@]}" 2>&1 | tee "$OUT/mlm.log" ;;
    pooled|head) here=$OUT
           OUT="$here/$stage-log" MODEL_OUT="$here/$stage" BASE="$here/mlm" DATA="$DATA_ARG" MODE=$stage \
             bash scripts/gpu/train.sh ;;
    evaluate) for model in pooled head; do
           python -m eval --model "$OUT/$model" --data "$DATA_ARG" "${limit[@]}" --out "$OUT/results/$model" --quiet \
             2>&1 | tee "$OUT/eval-$model.log"
           rm -rf "$OUT/results/$model/cache"
         done ;;
    *) echo "unknown stage $stage: use mlm, pooled, head or evaluate" >&2; exit 2 ;;
  esac
  echo "stage_seconds $stage $(awk "BEGIN {print $EPOCHREALTIME - $start}")"
done
echo "indomain done"
