#!/usr/bin/env bash
# Fine-tune a default-like model on a CUDA machine: the base encoder on the IMDB training split, every
# chunk of a review pooled in the loss (510/510/1, mean), three epochs, the best by validation kept.
# Run from the repository root with longbert installed (make test's .venv, or pip install -e ".[train]").
#   BASE   base encoder: a Hub id or a directory (default sentence-transformers/all-MiniLM-L6-v2)
#   DATA   IMDB: 'imdb' (the Hub), a directory of train/test.parquet, or a labelled file (default imdb)
#   OUT    where the model goes (default runs/gpu/model); EPOCHS (3), LR (5e-5), LIMIT=N for a dry run
#   MODE   pooled (default) or head: the truncation-trained twin (head 510 in the loss)
set -euo pipefail
source "$(dirname "$0")/common.sh"
OUT=${OUT:-runs/gpu}; mkdir -p "$OUT"
model=${MODEL_OUT:-$OUT/model}
start=$(date +%s)
python -m longbert train --model "${BASE:-sentence-transformers/all-MiniLM-L6-v2}" --data "${DATA:-imdb}" \
  "${limit[@]}" --out "$model" --overwrite --mode "${MODE:-pooled}" --pooling mean --chunk-size 510 --stride 510 \
  --epochs "${EPOCHS:-3}" --batch-texts "${BATCH_TEXTS:-16}" --lr "${LR:-5e-5}" --save-dtype float16 --quiet \
  2>&1 | tee "$OUT/train.log"
echo "train_seconds $(( $(date +%s) - start ))" | tee -a "$OUT/train.log"
