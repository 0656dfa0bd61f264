#!/usr/bin/env bash
# Train several candidates for the default model at once on one GPU (each run is launch-bound, so
# three share an H200 well), optionally average them (SOUP=1), score every candidate on the test
# split, and name the one with the best validation accuracy (ties: lower validation loss, as training
# picks epochs). The test split never chooses: every candidate's test results are kept to report.
# Then, with the time left, the IMDB benchmark rows of the chosen model.
#   BASE, DATA (as in train.sh; DATA must hold train.parquet and test.parquet, or be 'imdb' for the Hub)
#   CANDIDATES="name:epochs:lr ..." (default three 4-epoch runs at 5e-5, 1e-4, 3e-5); SOUP=1
#   TRAIN_SECONDS bounds each training run (a stopped run keeps its best finished epoch; default 360)
#   DEADLINE bounds the whole script in seconds (default 540); LIMIT=N / TEST_LIMIT=N for a dry run
# Writes OUT/<candidate>/ (models), OUT/results/<candidate>/, OUT/logs/, OUT/choice.json, OUT/bench_gpu.md.
set -uo pipefail
source "$(dirname "$0")/common.sh"
OUT=${OUT:-runs/gpu/sweep}; mkdir -p "$OUT/logs" "$OUT/results"
begin=$(date +%s)
deadline=${DEADLINE:-540}
base=${BASE:-sentence-transformers/all-MiniLM-L6-v2}
train_data=${DATA:-imdb}
test_data=(); [ "$train_data" != imdb ] && test_data=(--data "$train_data")
candidates=${CANDIDATES:-"e4-lr5e-5:4:5e-5 e4-lr1e-4:4:1e-4 e4-lr3e-5:4:3e-5"}
test_limit=(); [ -n "${TEST_LIMIT:-}" ] && test_limit=(--limit "$TEST_LIMIT")
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true

for candidate in $candidates; do
  IFS=: read -r name epochs lr <<<"$candidate"
  timeout -k 10 "${TRAIN_SECONDS:-360}" python -m longbert train --model "$base" --data "$train_data" "${limit[@]}" \
    --out "$OUT/$name" --overwrite --mode pooled --pooling mean --chunk-size 510 --stride 510 --epochs "$epochs" \
    --batch-texts "${BATCH_TEXTS:-16}" --lr "$lr" --save-dtype float16 --quiet >"$OUT/logs/train_$name.log" 2>&1 &
done
wait
echo "training done after $(( $(date +%s) - begin )) s"
if [ -n "${SOUP:-}" ]; then
  trained=(); for c in $candidates; do [ -f "$OUT/${c%%:*}/model.safetensors" ] && trained+=("$OUT/${c%%:*}"); done
  rm -rf "$OUT/soup"
  PYTHONPATH=. python scripts/gpu/soup.py --data "$train_data" --out "$OUT/soup" "${trained[@]}" >"$OUT/logs/soup.log" 2>&1 \
    && candidates="$candidates soup"
  tail -n 3 "$OUT/logs/soup.log"
fi

for candidate in $candidates; do
  name=${candidate%%:*}
  [ -f "$OUT/$name/model.safetensors" ] || continue
  timeout -k 5 "${EVAL_SECONDS:-120}" python -m eval --model "$OUT/$name" "${test_data[@]}" "${test_limit[@]}" \
    --out "$OUT/results/$name" --quiet >"$OUT/logs/eval_$name.log" 2>&1 &
done
wait
rm -rf "$OUT"/results/*/cache
echo "evaluation done after $(( $(date +%s) - begin )) s"

best=$(python - "$OUT" $candidates <<'PY'
import json, sys
from pathlib import Path

from longbert.tasks import task_type
from longbert.training import selection_score

out, rows = Path(sys.argv[1]), {}
for candidate in sys.argv[2:]:
    name = candidate.split(":")[0]
    record = out / name / "training.json"
    if not record.exists():
        continue
    data = json.loads(record.read_text())
    saved = data.get("saved_epoch") or data["history"][-1]["epoch"]
    epoch = next(h for h in data["history"] if h["epoch"] == saved)
    rows[name] = {"saved_epoch": saved, "finished": "saved_epoch" in data, "history": data["history"],
                  "score": list(selection_score(epoch, task_type(data.get("task", "single_label")))),
                  "test_evaluated": (out / "results" / name / "summary.json").exists()}
best = max(rows, key=lambda n: rows[n]["score"]) if rows else ""
(out / "choice.json").write_text(json.dumps({"chosen": best, "candidates": rows}, indent=2) + "\n")
print(best)
PY
)
echo "chosen by validation: ${best:-none}"
for f in "$OUT"/logs/eval_*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 25 "$f"; }; done

left=$(( deadline - ($(date +%s) - begin) - 10 ))
echo "benchmark gets $left s"
if [ -n "$best" ] && [ "$left" -gt 60 ]; then
  timeout -k 5 "$left" python -m bench --model "$OUT/$best" "${test_data[@]}" --texts "${TEST_LIMIT:-25000}" \
    --baseline-texts "${BASELINE:-2000}" --methods article,longbert,longbert-serial --long= \
    --out "$OUT/bench_gpu.md" 2>&1 | grep -v "Token indices" | tail -n 40
fi
echo "all done after $(( $(date +%s) - begin )) s"
