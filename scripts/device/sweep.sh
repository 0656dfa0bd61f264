#!/usr/bin/env bash
# One GPU call, carrying .device/base.tgz, .device/train and .device/test (move longbert/model and
# eval/results/imdb-test out of the tree first: together they would pass the 64 MiB limit).
# Trains several candidates for the default model at once on the one GPU (each run is launch-bound,
# so they share it well), scores each on the full test split, and sends back the one with the best
# validation accuracy (ties: lower validation loss, as training picks epochs). The test split never
# chooses: every candidate's test results come back so the note can show them all.
# Then, with what time is left, the IMDB benchmark rows (article loop, longbert, longbert-serial).
# CANDIDATES="name:epochs:lr ..."; SOUP=1 adds the candidates' averaged weights as one more; LIMIT=N and TEST_LIMIT=N for a dry run; TRAIN_SECONDS bounds
# training (a run stopped early keeps its best finished epoch); DEADLINE bounds the whole script.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
work=${WORK:-/tmp/longbert-sweep}; mkdir -p "$work/logs" "$work/results"
begin=$(date +%s)
deadline=${DEADLINE:-540}
[ -d "$work/base" ] || tar xzf .device/base.tgz -C "$work"
candidates=${CANDIDATES:-"e4-lr5e-5:4:5e-5 e4-lr1e-4:4:1e-4 e4-lr3e-5:4:3e-5"}
limit=(); [ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")
test_limit=(); [ -n "${TEST_LIMIT:-}" ] && test_limit=(--limit "$TEST_LIMIT")
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true

for candidate in $candidates; do
  IFS=: read -r name epochs lr <<<"$candidate"
  timeout -k 10 "${TRAIN_SECONDS:-360}" python -m longbert train --model "$work/base" --data .device/train \
    "${limit[@]}" --out "$work/$name" --mode pooled --pooling mean --chunk-size 510 --stride 510 \
    --epochs "$epochs" --batch-texts 16 --lr "$lr" --save-dtype float16 --quiet >"$work/logs/train_$name.log" 2>&1 &
done
wait
echo "training done after $(( $(date +%s) - begin )) s"
if [ -n "${SOUP:-}" ]; then  # SOUP=1: also their weights averaged, a candidate like the others
  trained=(); for c in $candidates; do [ -f "$work/${c%%:*}/model.safetensors" ] && trained+=("$work/${c%%:*}"); done
  PYTHONPATH=. python scripts/device/soup.py --data .device/train --out "$work/soup" "${trained[@]}" >"$work/logs/soup.log" 2>&1 \
    && candidates="$candidates soup"
  tail -n 3 "$work/logs/soup.log"
fi

for candidate in $candidates; do
  name=${candidate%%:*}
  [ -f "$work/$name/model.safetensors" ] || continue
  timeout -k 5 120 python -m eval --model "$work/$name" --data .device/test "${test_limit[@]}" \
    --out "$work/results/$name" --quiet >"$work/logs/eval_$name.log" 2>&1 &
done
wait
echo "evaluation done after $(( $(date +%s) - begin )) s"

best=$(python - "$work" $candidates <<'PY'
import json, sys
from pathlib import Path

work, rows = Path(sys.argv[1]), {}
for candidate in sys.argv[2:]:
    name = candidate.split(":")[0]
    record = work / name / "training.json"
    if not record.exists():
        continue
    data = json.loads(record.read_text())
    saved = data.get("saved_epoch") or data["history"][-1]["epoch"]
    epoch = next(h for h in data["history"] if h["epoch"] == saved)
    summary = work / "results" / name / "summary.json"
    rows[name] = {"saved_epoch": saved, "finished": "saved_epoch" in data, "history": data["history"],
                  "score": [epoch.get("validation_accuracy", 0.0), -epoch.get("validation_loss", 0.0)],
                  "test_evaluated": summary.exists()}
best = max(rows, key=lambda n: rows[n]["score"]) if rows else ""
(work / "logs" / "choice.json").write_text(json.dumps({"chosen": best, "candidates": rows}, indent=2) + "\n")
print(best)
PY
)
echo "chosen by validation: ${best:-none}"; cat "$work/logs/choice.json"
for f in "$work"/logs/eval_*.log; do echo "== $f"; tail -n 25 "$f"; done

if [ -n "$best" ]; then
  tar czf "$OUT/model_files.tgz" -C "$work/$best" --exclude model.safetensors .
  (cd "$work/$best" && sha256sum model.safetensors) >"$OUT/model.sha256"
  split -b 15M "$work/$best/model.safetensors" "$OUT/part_"
fi
rm -rf "$work"/results/*/cache
tar czf "$OUT/results.tgz" -C "$work" results
tar czf "$OUT/logs.tgz" -C "$work" logs
ls -l "$OUT"

left=$(( deadline - ($(date +%s) - begin) - 10 ))
echo "benchmark gets $left s"
if [ -n "$best" ] && [ "$left" -gt 60 ]; then
  texts=${TEST_LIMIT:-25000}
  timeout -k 5 "$left" python -m bench --model "$work/$best" --data .device/test --texts "$texts" \
    --baseline-texts "${BASELINE:-2000}" --methods article,longbert,longbert-serial --long= \
    --out "$OUT/bench_gpu.md" 2>&1 | grep -v "Token indices" | tail -n 40
fi
echo "all done after $(( $(date +%s) - begin )) s"
