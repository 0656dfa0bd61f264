"""Every task type end to end through `longbert predict`: per-chunk outputs equal the model's own on each chunk."""

import json
import re

import numpy as np
import pytest
import torch
from conftest import TOKENIZER_DIR, tiny_bert
from transformers import AutoTokenizer

from longbert import MULTI_LABEL, REGRESSION, SINGLE_LABEL, LongbertError, LongTextClassifier
from longbert.cli import main

WORDS = ["good", "bad", "plot", "acting", "music", "long", "dull", "great", "story", "ending"]
TEXT = " ".join(WORDS[(i * 7 + i // 3) % len(WORDS)] for i in range(145))  # 145 tokens
# chunk 64, stride 40, minimal 30: [0, 64), [40, 104), [80, 144); the last [120, 145) has 25 tokens and is dropped
CHUNKS = [(0, 64), (40, 104), (80, 144)]
TASKS = {SINGLE_LABEL: 3, MULTI_LABEL: 4, REGRESSION: 1}


def save_task_model(directory, kind: str):
    model = tiny_bert(num_labels=TASKS[kind], seed=3)
    model.config.problem_type = kind
    model.config.id2label = {i: f"L{i}" for i in range(TASKS[kind])}
    model.config.label2id = {f"L{i}": i for i in range(TASKS[kind])}
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(TOKENIZER_DIR).save_pretrained(directory)
    return model


def reference_chunk_outputs(model, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Each chunk run alone through the model with the tokenizer's own special tokens: (logits, outputs)."""
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert len(ids) == 145
    logits = []
    with torch.no_grad():
        for start, end in CHUNKS:
            chunk = torch.tensor([[tokenizer.cls_token_id, *ids[start:end], tokenizer.sep_token_id]])
            logits.append(model(input_ids=chunk).logits[0].double())
    logits = torch.stack(logits)
    activation = {SINGLE_LABEL: lambda x: x.softmax(-1), MULTI_LABEL: torch.sigmoid, REGRESSION: lambda x: x}[kind]
    return logits.numpy(), activation(logits).numpy()


def reference_pool(logits: np.ndarray, outputs: np.ndarray, method: str, kind: str) -> np.ndarray:
    sizes = np.array([end - start for start, end in CHUNKS], dtype=float)
    if method == "logit_mean":
        mean = torch.from_numpy(logits.mean(0))
        return {SINGLE_LABEL: mean.softmax(-1), MULTI_LABEL: torch.sigmoid(mean), REGRESSION: mean}[kind].numpy()
    pooled = {
        "mean": outputs.mean(0),
        "max": outputs.max(0),
        "median": np.median(outputs, 0),
        "weighted_mean": (outputs * sizes[:, None]).sum(0) / sizes.sum(),
    }[method]
    if kind == SINGLE_LABEL and method in ("max", "median"):
        return pooled / pooled.sum()
    return pooled


@pytest.mark.parametrize("kind", list(TASKS))
@pytest.mark.parametrize("method", ["mean", "max", "logit_mean", "median", "weighted_mean"])
def test_predict_gives_the_models_own_chunk_outputs_pooled_as_described(capsys, tmp_path, kind, method):
    model = save_task_model(tmp_path / "model", kind)
    (tmp_path / "text.txt").write_text(TEXT)
    code = main([
        "predict", str(tmp_path / "text.txt"), "--model", str(tmp_path / "model"), "--chunk-size", "64",
        "--stride", "40", "--minimal-chunk-size", "30", "--pooling", method, "--precision", "fp32", "--device", "cpu",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(out)
    logits, outputs = reference_chunk_outputs(model, kind)
    assert [c["tokens"] for c in record["chunks"]] == [64, 64, 64]
    labels = [f"L{i}" for i in range(TASKS[kind])]
    if kind == REGRESSION:
        assert "label" not in record and "probabilities" not in record
        assert np.allclose([c["value"] for c in record["chunks"]], outputs[:, 0], atol=1e-4)
        assert record["value"] == pytest.approx(reference_pool(logits, outputs, method, kind)[0], abs=1e-4)
        return
    chunk_probabilities = [[c["probabilities"][name] for name in labels] for c in record["chunks"]]
    assert np.allclose(chunk_probabilities, outputs, atol=1e-4)
    pooled = reference_pool(logits, outputs, method, kind)
    assert np.allclose([record["probabilities"][name] for name in labels], pooled, atol=1e-4)
    if kind == SINGLE_LABEL:
        assert record["label"] == labels[int(np.argmax(pooled))]
    else:
        assert "label" not in record
        assert record["labels"] == [name for name, p in zip(labels, pooled) if p >= 0.5]


def test_multi_label_threshold_from_the_command_line_and_settings(capsys, tmp_path):
    from longbert.settings import Settings, load_settings, save_settings

    save_task_model(tmp_path / "model", MULTI_LABEL)
    (tmp_path / "text.txt").write_text(TEXT)
    args = ["predict", str(tmp_path / "text.txt"), "--model", str(tmp_path / "model"), "--precision", "fp32"]
    for threshold in ("0.01", "0.99"):
        assert main([*args, "--threshold", threshold]) == 0
        record = json.loads(capsys.readouterr().out)
        expected = [k for k, p in record["probabilities"].items() if p >= float(threshold)]
        assert record["labels"] == expected
    assert len(expected) == 0
    save_settings(Settings(threshold=0.01), tmp_path / "model")
    assert load_settings(tmp_path / "model").threshold == 0.01
    assert main(args) == 0
    assert len(json.loads(capsys.readouterr().out)["labels"]) == 4


@pytest.mark.parametrize(
    "kind, args, message",
    [
        (SINGLE_LABEL, ["--threshold", "0.3"], "--threshold applies to multi-label models"),
        (MULTI_LABEL, ["--threshold", "1.5"], "threshold must be a number between 0 and 1"),
    ],
)
def test_task_mismatches_are_one_line_errors(capsys, tmp_path, kind, args, message):
    save_task_model(tmp_path / "model", kind)
    (tmp_path / "text.txt").write_text(TEXT)
    capsys.readouterr()
    code = main(["predict", str(tmp_path / "text.txt"), "--model", str(tmp_path / "model"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_regression_model_saved_with_two_labels_is_refused(tmp_path):
    model = tiny_bert(num_labels=1)
    model.config.problem_type = "single_label_classification"
    with pytest.raises(LongbertError, match="two or more classes"):
        LongTextClassifier(model, AutoTokenizer.from_pretrained(TOKENIZER_DIR), device="cpu")


def test_sentence_strategy_from_the_command_line(capsys, tmp_path):
    save_task_model(tmp_path / "model", SINGLE_LABEL)
    text = "The plot is thin. The acting is good. " * 40
    (tmp_path / "text.txt").write_text(text)
    code = main(["predict", str(tmp_path / "text.txt"), "--model", str(tmp_path / "model"), "--strategy",
                 "sentences 64/64/1", "--precision", "fp32"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(out)
    assert record["num_chunks"] > 1
    for chunk in record["chunks"][:-1]:
        assert text[: chunk["span"][1]].endswith("."), "every chunk but the last ends at a sentence's end"


def task_frame(kind: str, n: int = 12):
    import pandas as pd

    texts = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(40 + 90 * (i % 4))) for i in range(n)]
    labels = {
        SINGLE_LABEL: [i % 3 for i in range(n)],
        MULTI_LABEL: [[f"L{i % 4}"] + (["L0"] if i % 3 == 0 and i % 4 else []) for i in range(n)],
        REGRESSION: [float(1 + i % 10) for i in range(n)],
    }[kind]
    return pd.DataFrame({"text": texts, "label": pd.Series(labels, dtype=object if kind == MULTI_LABEL else None)})


@pytest.mark.parametrize("kind", list(TASKS))
def test_evaluation_and_the_app_read_every_task_type(tmp_path, kind, monkeypatch):
    from ui import dashboard, demo

    monkeypatch.setenv("LONGBERT_MODEL", str(tmp_path / "model"))  # the app serves only the models it offers
    from eval.figures import all_figures
    from eval.results import load_results
    from eval.run import evaluate, parse_grid

    save_task_model(tmp_path / "model", kind)
    classifier = LongTextClassifier.from_pretrained(tmp_path / "model", device="cpu", precision="fp32")
    frame = task_frame(kind)
    summary = evaluate(classifier, frame, model="tiny", chunkings=parse_grid("64/32/1,sentences 64/64/1"),
                       poolings=["mean", "max"], out_dir=tmp_path / "results", progress=False)  # fmt: skip
    metric = {SINGLE_LABEL: "accuracy", MULTI_LABEL: "micro_f1", REGRESSION: "mae"}[kind]
    assert summary.meta["task"] == kind and summary.meta["metric"] == metric
    direct = classifier.predict(frame["text"].tolist(), parse_grid("64/32/1")[0], "max")
    row = next(r for r in summary.rows if r["setting"] == "chunk 64/32/1 max")
    if kind == REGRESSION:
        values = np.array([p.value for p in direct])
        assert row["mae"] == pytest.approx(np.abs(values - frame["label"].to_numpy()).mean(), abs=1e-5)
        assert {"rmse", "r2", "spearman", "pearson", "mae_diff", "wilcoxon_p"} <= set(row)
    elif kind == MULTI_LABEL:
        chosen = [set(p.labels) for p in direct]
        assert row["subset_accuracy"] == pytest.approx(np.mean([c == set(t) for c, t in zip(chosen, frame["label"])]))
        assert {"micro_f1", "macro_f1", "hamming_loss", "roc_auc_per_label", "mcnemar_p"} <= set(row)
    else:
        right = [p.label == f"L{t}" for p, t in zip(direct, frame["label"])]
        assert row["accuracy"] == pytest.approx(np.mean(right))
    assert row["chunks"] == sum(len(p.chunks) for p in direct)
    results = load_results(tmp_path / "results")
    drawn = all_figures(results)["accuracy"].data[0]
    assert sorted(drawn.x) == pytest.approx(sorted(r[metric] for r in summary.rows))
    table = dashboard.readable_table(results, "run")
    assert metric in table.columns and len(table) == len(summary.rows)
    monkeypatch.setenv("LONGBERT_RESULTS", str(tmp_path / "results"))
    (label,) = dashboard.result_sets()
    settings = dashboard.compare.settings_table(dashboard.results_of(label))
    choices = dashboard.metric_choices(settings)
    assert metric in choices and ("accuracy" in choices) == (metric == "accuracy"), "the picker follows the task"
    for stale in ("accuracy", "mae"):  # the picker may still show the previous set's metric
        assert dashboard.cost_chart(label, stale, "tokens_per_review").data, "drawn with this set's metric"
        assert dashboard.heatmap(label, stale, "mean", "1 token", "all reviews") is not None

    verdict, chart, shaded = demo.classify(frame["text"][3], str(tmp_path / "model"), 64, 32, 1, "mean")
    assert verdict.startswith("### ") and "Head truncation" in verdict, verdict
    assert len(chart.data) == (4 if kind == MULTI_LABEL else 1)
    assert shaded.count("<span title=") >= 2


def test_bad_labels_for_the_models_task_are_a_one_line_evaluation_error(capsys, tmp_path):
    from eval.__main__ import main as eval_main

    save_task_model(tmp_path / "model", REGRESSION)
    data = tmp_path / "data.jsonl"
    task_frame(MULTI_LABEL).to_json(data, orient="records", lines=True)
    capsys.readouterr()
    code = eval_main(["--model", str(tmp_path / "model"), "--data", str(data), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "regression labels must be finite numbers" in err and len(err.strip().splitlines()) == 1


def test_the_demo_chunks_at_sentence_boundaries_when_asked(model_dir, monkeypatch):
    from ui import controls, demo

    monkeypatch.setenv("LONGBERT_MODEL", str(model_dir))

    text = "The plot is thin. The acting is good. " * 40
    fixed = demo.classify(text, str(model_dir), 32, 32, 1, "mean", controls.FIXED)[0]
    sentences = demo.classify(text, str(model_dir), 32, 32, 1, "mean", controls.SENTENCES)[0]
    count = lambda verdict: int(re.search(r"of (\d+) chunks", verdict).group(1))  # noqa: E731
    assert count(sentences) > count(fixed), "whole sentences fit fewer tokens a chunk, so there are more chunks"


@pytest.mark.parametrize("strategy", ["sentences 256/128/8", "head+tail 100+200", "tail 64", "300/150/10"])
def test_settings_save_any_strategy(tmp_path, strategy):
    from longbert import parse_strategy
    from longbert.settings import Settings, load_settings, save_settings

    settings = Settings(parse_strategy(strategy), "median", False, 0.3)
    save_settings(settings, tmp_path)
    assert load_settings(tmp_path) == settings


def test_settings_in_the_older_form_still_load(tmp_path):
    from longbert import Chunking
    from longbert.settings import load_settings

    older = {"chunking": {"chunk_size": 256, "stride": 128, "minimal_chunk_size": 1}, "pooling": "max"}
    (tmp_path / "longbert.json").write_text(json.dumps(older))
    settings = load_settings(tmp_path)
    assert settings.strategy == Chunking(256, 128, 1) and settings.pooling == "max" and settings.threshold == 0.5
    (tmp_path / "longbert.json").write_text(json.dumps({"strategy": "middle"}))
    with pytest.raises(LongbertError, match="unknown strategy 'middle'"):
        load_settings(tmp_path)


def test_probabilities_never_read_as_one_half_unless_they_are():
    from longbert.tasks import probability_text

    assert [probability_text(p) for p in (0.4996, 0.5004, 0.5, 0.123456)] == ["0.4996", "0.5004", "0.500", "0.123"]
    assert [probability_text(p, 1, percent=True) for p in (0.5004, 0.49951, 0.666)] == ["50.04%", "49.95%", "66.6%"]
