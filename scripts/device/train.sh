#!/usr/bin/env bash
# GPU call 1, carrying .device/base.tgz and .device/train: fine-tune the default model on the full
# IMDB train split, pooled mode, and send it back in 15 MB parts (receive.sh puts it together here).
# LIMIT=N trains on N reviews (a dry run); LR and EPOCHS override 5e-5 and 3; OUT defaults to ./out.
# Three epochs (about 1 minute each on an H200), the best by validation accuracy kept: a public
# all-MiniLM-L6-v2 IMDB fine-tune (Siki-77/sbert_imdb_fast) went from 90.6% after epoch 2 to 92.5% after 3.
set -euo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
work=${WORK:-/tmp/longbert-device}; mkdir -p "$work"
[ -d "$work/base" ] || tar xzf .device/base.tgz -C "$work"
limit=(); [ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
start=$(date +%s)
python -m longbert train --model "$work/base" --data .device/train "${limit[@]}" --out "$work/model" \
  --mode pooled --pooling mean --chunk-size 510 --stride 510 --epochs "${EPOCHS:-3}" --batch-texts 16 --lr "${LR:-5e-5}" \
  --save-dtype float16 --quiet 2>&1 | tee "$OUT/train.log"
echo "train_seconds $(( $(date +%s) - start ))" | tee -a "$OUT/train.log"
tar czf "$OUT/model_files.tgz" -C "$work/model" --exclude model.safetensors .  # config, tokenizer, settings
(cd "$work/model" && sha256sum model.safetensors) > "$OUT/model.sha256"
split -b 15M "$work/model/model.safetensors" "$OUT/part_"
