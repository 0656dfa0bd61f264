"""The model card is written from training.json and the evaluation results, and agrees with them."""

import json
from pathlib import Path

import pytest

from eval.__main__ import main as eval_main
from eval.model_card import LONG, main, model_card
from eval.results import load_results

ROOT = Path(__file__).parent.parent
TRAINING = {
    "command": "longbert train --model base --data imdb --out longbert/model --epochs 2",
    "data": "stanfordnlp/imdb (train split)",
    "config": {
        "mode": "pooled", "pooling": "mean", "chunking": {"chunk_size": 510, "stride": 510, "minimal_chunk_size": 1},
        "max_chunks": None, "epochs": 2, "learning_rate": 5e-5, "weight_decay": 0.01, "warmup_ratio": 0.06,
        "batch_texts": 16, "batch_tokens": None, "max_grad_norm": 1.0, "seed": 0, "validation_fraction": 0.05,
        "clean_markup": True, "save_dtype": "float16", "precision": "auto",
    },
    "history": [
        {"epoch": 1, "train_loss": 0.25, "seconds": 61.0, "validation_accuracy": 0.925, "validation_loss": 0.2},
        {"epoch": 2, "train_loss": 0.15, "seconds": 60.0, "validation_accuracy": 0.9375, "validation_loss": 0.18},
    ],
    "saved_epoch": 2, "processes": 1, "device": "NVIDIA H200", "versions": {"torch": "2.11.0"},
    "train_texts": 23750, "validation_texts": 1250,
}  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory, model_dir):
    out = tmp_path_factory.mktemp("results")
    args = ["--model", str(model_dir), "--data", "sample", "--limit", "60", "--out", str(out), "--quiet"]
    assert eval_main(args) == 0
    return out


def test_card_holds_the_results_and_the_training_record(tmp_path, results):
    (tmp_path / "training.json").write_text(json.dumps(TRAINING))
    card = model_card(tmp_path, results)
    summary = load_results(results)
    predictions = summary.predictions
    long = predictions[predictions["num_tokens"] > LONG]
    assert card.startswith("---\nlicense: apache-2.0\n")
    assert f"`{summary.meta['command']}`" in card
    for row in summary.rows:
        correct_long = ((long[row["setting"]] >= 0.5).astype(int) == long["label"]).mean()
        line = next(line for line in card.splitlines() if line.startswith(f"| {row['setting']} |"))
        assert f"| {100 * row['accuracy']:.2f}% (" in line
        assert f"| {row['roc_auc']:.4f} |" in line
        assert f"| {100 * correct_long:.2f}% |" in line
    assert f"(n = {len(long):,})" in card
    assert "chunk 510/510/1 mean, all reviews: >= 93.50%" in card
    assert f"`{TRAINING['command']}`" in card and "NVIDIA H200" in card
    assert "25,000 reviews from stanfordnlp/imdb (train split)" in card and "1,250 held out" in card
    assert "| 2 | 0.1500 | 93.75% | 0.1800 | 60 |" in card and "is the one saved: epoch 2" in card
    assert "Maas" in card and "all-MiniLM-L6-v2" in card


def test_card_of_a_model_soup_names_the_averaging_and_every_model_averaged(tmp_path, results):
    longer = TRAINING | {"command": TRAINING["command"].replace("--epochs 2", "--epochs 3"), "saved_epoch": 1}
    soup = {k: v for k, v in TRAINING.items() if k not in ("command", "history", "saved_epoch")} | {
        "command": "python scripts/gpu/soup.py --data imdb --out soup e2 e3",
        "soup_of": [{"name": "e2", **TRAINING}, {"name": "e3", **longer}],
        "history": [{"epoch": "soup", "validation_accuracy": 0.95, "validation_loss": 0.17}],
        "saved_epoch": "soup",
        "soup_device": "CPU (test), 2 cores",
    }
    (tmp_path / "training.json").write_text(json.dumps(soup))
    card = model_card(tmp_path, results)
    assert f"`{soup['command']}` (CPU (test), 2 cores)" in card
    assert "accuracy 95.00%, loss 0.1700; the models averaged: e2 93.75%, e3 92.50%" in card
    assert "### e2" in card and "### e3" in card
    assert f"`{TRAINING['command']}`" in card and f"`{longer['command']}`" in card
    assert "is the one saved: epoch 2" in card and "is the one saved: epoch 1" in card


def test_command_writes_readme_and_missing_files_are_one_line_errors(tmp_path, results, capsys):
    assert main(["--model", str(tmp_path), "--results", str(results)]) == 2
    assert "training.json not found" in capsys.readouterr().err
    (tmp_path / "training.json").write_text(json.dumps(TRAINING))
    assert main(["--model", str(tmp_path), "--results", str(results)]) == 0
    assert (tmp_path / "README.md").read_text() == model_card(tmp_path, results)


def test_committed_card_agrees_with_committed_results(monkeypatch):
    monkeypatch.chdir(ROOT)  # the card names the results directory by its path from the repository root
    model, results = ROOT / "longbert" / "model", ROOT / "eval" / "results" / "imdb-test"
    if not (model / "README.md").is_file() or not (results / "summary.json").is_file():
        pytest.skip("the default model and its full-split results are not committed yet")
    assert (model / "README.md").read_text() == model_card("longbert/model", "eval/results/imdb-test")
