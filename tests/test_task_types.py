"""A task type defined outside the library runs through predict, evaluation and training with no library change.

BinaryLogit is a two-class task on one output (a sigmoid), which transformers has no problem_type for: its name
travels in longbert.json, and every per-task decision comes from the class itself.
"""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import save_tiny_encoder, save_tiny_model

from longbert import Chunking, LongTextClassifier, Task, register_task
from longbert.cli import main
from longbert.settings import Settings, save_settings
from longbert.training import TrainConfig, train


@register_task
@dataclass(frozen=True)
class BinaryLogit(Task):
    name = "binary_logit"
    short_name = "binary_logit"
    activation = "sigmoid"
    metric = "accuracy"

    def loss(self, pooled: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy(pooled[:, 0].clamp(1e-7, 1 - 1e-7), targets.float())

    def decide(self, pooled) -> dict:
        return {"label": "yes" if pooled[0] >= 0.5 else "no", "probabilities": (float(pooled[0]),)}

    def record(self, prediction) -> dict:
        return {"label": prediction.label, "p_yes": prediction.probabilities[0]}

    def columns(self, prediction) -> dict:
        return {"label": None if prediction is None else prediction.label}

    def words(self, prediction) -> tuple[str, str]:
        return prediction.label, f"{prediction.probabilities[0]:.1%}"

    def validation_metric(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        return float(self.per_review(targets, outputs).mean())

    def per_review(self, targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        return (outputs[:, 0] >= 0.5) == (np.asarray(targets) > 0.5)

    def decisions(self, outputs: np.ndarray) -> np.ndarray:
        return (outputs[:, 0] >= 0.5).astype(int)

    @classmethod
    def targets(cls, values: list, labels) -> tuple[list[str], np.ndarray]:
        return ["yes"], np.asarray(values, np.float32)


def frame(n: int) -> pd.DataFrame:
    words = [("good great fine " if i % 2 else "bad awful poor ") * (3 + 20 * (i % 5)) for i in range(n)]
    return pd.DataFrame({"text": words, "label": [i % 2 for i in range(n)]})


@pytest.fixture
def model(tmp_path):
    directory = save_tiny_model(tmp_path / "model", num_labels=1, init=0.5)
    save_settings(Settings(Chunking(64, 64, 1), task="binary_logit"), directory)
    return directory


def test_predict_uses_a_task_type_defined_outside_the_library(model, capsys, tmp_path):
    classifier = LongTextClassifier.from_pretrained(model, device="cpu", precision="fp32")
    assert isinstance(classifier.task, BinaryLogit)
    texts = frame(4)["text"].tolist()
    predictions = classifier.predict(texts)
    p_yes = [torch.sigmoid(classifier.score(classifier.chunk(classifier.encode([t]))).logits).mean().item()
             for t in texts]  # fmt: skip
    assert [p.label for p in predictions] == ["yes" if p >= 0.5 else "no" for p in p_yes]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    assert main(["predict", str(tmp_path / "in.jsonl"), "--model", str(model), "--quiet", "--precision", "fp32"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in records] == [p.label for p in predictions]
    assert [r["p_yes"] for r in records] == pytest.approx(p_yes, abs=1e-5), "its own JSON record"


def test_evaluation_ranks_and_compares_an_outside_task_type(model, tmp_path):
    from eval.results import load_results
    from eval.run import evaluate, parse_grid

    classifier = LongTextClassifier.from_pretrained(model, device="cpu", precision="fp32")
    reviews = frame(12)
    results = evaluate(classifier, reviews, model="tiny", chunkings=parse_grid("64/32/1"), poolings=["mean", "max"],
                       out_dir=tmp_path / "results", progress=False)  # fmt: skip
    direct = classifier.predict(reviews["text"].tolist(), parse_grid("64/32/1")[0], "max")
    row = next(r for r in results.rows if r["setting"] == "chunk 64/32/1 max")
    right = [(p.label == "yes") == bool(label) for p, label in zip(direct, reviews["label"])]
    assert row["accuracy"] == pytest.approx(np.mean(right))
    assert {"accuracy_diff", "mcnemar_p"} <= set(row), "paired with head truncation as its comparison says"
    loaded = load_results(tmp_path / "results")
    assert isinstance(loaded.task, BinaryLogit) and loaded.metric == "accuracy"
    assert loaded.outputs("chunk 64/32/1 max").shape == (12, 1)


def test_training_fits_an_outside_task_type_and_saves_its_name(tmp_path):
    base = save_tiny_encoder(tmp_path / "base")
    config = TrainConfig(chunking=Chunking(64, 64, 1), epochs=1, batch_texts=4, batch_tokens=1024, warmup_ratio=0.0,
                         precision="fp32", task="binary_logit", validation_fraction=0.25)  # fmt: skip
    result = train(str(base), frame(16), tmp_path / "out", config, progress=False)
    assert "validation_accuracy" in result["history"][0] and "validation_loss" in result["history"][0]
    assert json.loads((tmp_path / "out" / "longbert.json").read_text())["task"] == "binary_logit"
    loaded = LongTextClassifier.from_pretrained(tmp_path / "out", device="cpu", precision="fp32")
    assert isinstance(loaded.task, BinaryLogit) and loaded.predict("good film")[0].label in ("yes", "no")
