"""scripts/gpu/ dry-run on the CPU with tiny limits, as a user would run them on a CUDA machine."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import save_tiny_encoder

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_script(name: str, tmp_path: Path, **settings: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "OUT": str(tmp_path),
           "HF_HUB_OFFLINE": "1", **settings}  # fmt: skip
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu" / name)], capture_output=True, text=True, env=env,
                          cwd=ROOT.parent, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def test_train_then_evaluate_the_trained_model(tmp_path, model_dir):
    base = save_tiny_encoder(tmp_path / "base")
    log = run_script("train.sh", tmp_path, BASE=str(base), DATA="sample", LIMIT="32", EPOCHS="1", BATCH_TEXTS="8")
    assert "no NVIDIA GPU" in log and "train_seconds" in log
    model = tmp_path / "model"
    assert json.loads((model / "training.json").read_text())["config"]["chunking"]["chunk_size"] == 510
    log = run_script("evaluate.sh", tmp_path, MODEL=str(model), DATA="sample", LIMIT="8", BASELINE="4",
                     METHODS="article,longbert", BENCH_ARGS="--long 600")  # fmt: skip
    summary = json.loads((tmp_path / "imdb-test" / "summary.json").read_text())
    assert summary["meta"]["reviews"] == 8 and not (tmp_path / "imdb-test" / "cache").exists()
    assert "| longbert |" in (tmp_path / "bench_gpu.md").read_text() and "eval_seconds_end_to_end" in log


def test_sweep_trains_averages_scores_and_chooses_by_validation(tmp_path):
    base = save_tiny_encoder(tmp_path / "base")
    log = run_script("sweep.sh", tmp_path / "sweep", BASE=str(base), DATA="sample", CANDIDATES="a:1:5e-5 b:1:1e-4",
                     SOUP="1", LIMIT="32", TEST_LIMIT="8", BASELINE="4", BATCH_TEXTS="8")  # fmt: skip
    choice = json.loads((tmp_path / "sweep" / "choice.json").read_text())
    assert set(choice["candidates"]) == {"a", "b", "soup"} and choice["chosen"] in choice["candidates"]
    assert all(c["test_evaluated"] for c in choice["candidates"].values())
    assert "all done" in log


def test_variants(tmp_path, model_dir):
    run_script("variants.sh", tmp_path, MODEL=str(model_dir), DATA="sample", LIMIT="4", REPEATS="1")
    rows = json.loads((tmp_path / "variants.json").read_text())["rows"]
    assert rows[0]["variant"] == "default"


def test_speed_dry_run_measures_every_prepared_variant_and_the_split(tmp_path, model_dir):
    names = "default;bf16 weights, pad x16;bf16 weights, pad x32;bf16 weights, pad x64, CUDA graphs"
    log = run_script("speed.sh", tmp_path, MODEL=str(model_dir), DATA="sample", LIMIT="4", REPEATS="1", BASELINE="2",
                     VARIANTS=names)  # fmt: skip
    rows = json.loads((tmp_path / "speed_variants.json").read_text())["rows"]
    assert [r["variant"] for r in rows] == names.split(";")
    assert all(r["max_abs_dp_vs_default"] < 0.1 for r in rows)
    assert "| longbert |" in (tmp_path / "bench_speed.md").read_text() and "no NVIDIA GPU" in log


def test_indomain_pretrains_then_trains_the_pooled_model_and_its_truncation_twin(tmp_path):
    base = save_tiny_encoder(tmp_path / "base")
    log = run_script("indomain.sh", tmp_path, BASE=str(base), DATA="sample", LIMIT="24", MLM_EPOCHS="1", EPOCHS="1",
                     BATCH_TEXTS="8")  # fmt: skip
    assert "indomain done" in log
    mlm = json.loads((tmp_path / "mlm" / "mlm.json").read_text())
    assert mlm["split"] == "train" and len(mlm["history"]) == 2 and mlm["steps"] > 0
    modes = {m: json.loads((tmp_path / m / "training.json").read_text())["config"]["mode"] for m in ("pooled", "head")}
    assert modes == {"pooled": "pooled", "head": "head"}
    for model in ("pooled", "head"):
        summary = json.loads((tmp_path / "results" / model / "summary.json").read_text())
        assert summary["meta"]["reviews"] == 24 and "chunk 510/510/1 mean" in summary["meta"]["settings"]
