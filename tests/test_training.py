"""Fine-tuning: exact gradients under a token budget, learning, saving without pickle, and 2-process data parallel."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import save_tiny_encoder, save_tiny_model, tiny_bert
from safetensors.torch import load_file

from bench.load import free_port
from longbert import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Chunking, LongbertError, LongTextClassifier, chunk
from longbert.cli import main
from longbert.runtime import runtime_for
from longbert.tasks import label_targets
from longbert.training import TrainConfig, accumulate_gradients, train


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    """Texts whose label is whether 'good' or 'bad' fills them; some long enough for several chunks."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.choice(["good", "great", "fine"] if label else ["bad", "awful", "poor"], int(rng.integers(5, 300)))
        rows.append({"text": " ".join(words), "label": label})
    return pd.DataFrame(rows)


def gradients(model, chunks, labels, budget, pooling, task):
    model.zero_grad()
    from longbert.encoding import SpecialTokens

    special = SpecialTokens((101,), (102,), 0)
    runtime = runtime_for("cpu", "fp32").with_options(batch_tokens=budget)
    loss = accumulate_gradients(model, chunks, labels, task, pooling, special, runtime)
    return loss, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


TASK_TARGETS = {
    SINGLE_LABEL: (2, lambda n: torch.tensor([i % 2 for i in range(n)])),
    MULTI_LABEL: (3, lambda n: torch.tensor([[i % 2, (i // 2) % 2, 1] for i in range(n)], dtype=torch.float32)),
    REGRESSION: (1, lambda n: torch.linspace(1, 10, n).reshape(-1, 1)),
}


@pytest.mark.parametrize("kind", [SINGLE_LABEL, MULTI_LABEL, REGRESSION])
@pytest.mark.parametrize("pooling", ["mean", "max", "logit_mean", "weighted_mean"])
def test_token_budget_passes_give_the_same_gradients_as_one_pass(tokenizer, pooling, kind):
    outputs, targets = TASK_TARGETS[kind]
    model = tiny_bert(num_labels=outputs)
    model.config.problem_type = kind
    classifier = LongTextClassifier(model, tokenizer, device="cpu", precision="fp32")
    model.train()
    texts = synthetic(6)["text"].tolist()
    chunks = chunk(classifier.encode(texts), Chunking(64, 32, 1))
    labels = targets(6)
    loss_one, one = gradients(model, chunks, labels, 1_000_000, pooling, classifier.task)
    loss_many, many = gradients(model, chunks, labels, 200, pooling, classifier.task)
    assert loss_one == pytest.approx(loss_many, abs=1e-6)
    assert one.keys() == many.keys()
    for name in one:
        assert torch.allclose(one[name], many[name], atol=1e-6, rtol=1e-4), name


def test_pooled_training_learns_and_saves_a_loadable_model(tmp_path):
    base = save_tiny_model(tmp_path / "base")
    config = TrainConfig(
        chunking=Chunking(64, 64, 1), epochs=4, learning_rate=2e-3, batch_texts=8, batch_tokens=1024,
        validation_fraction=0.0, warmup_ratio=0.0, precision="fp32",
    )  # fmt: skip
    result = train(str(base), synthetic(96), tmp_path / "out", config, validation=synthetic(32, seed=1), progress=False)
    assert result["history"][-1]["validation_accuracy"] == 1.0
    assert result["history"][-1]["train_loss"] < result["history"][0]["train_loss"]
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "longbert.json", "training.json"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl", ".pth")) for name in files), "no pickle anywhere"
    loaded = LongTextClassifier.from_pretrained(tmp_path / "out", device="cpu", precision="fp32")
    assert loaded.settings.strategy == Chunking(64, 64, 1)
    assert loaded.labels == ["NEGATIVE", "POSITIVE"]
    assert loaded.predict("good great fine " * 100)[0].label == "POSITIVE"
    assert loaded.predict("bad awful poor " * 100)[0].label == "NEGATIVE"


def test_train_command_on_imdb_sample_head_and_float16(capsys, tmp_path, model_dir):
    out = tmp_path / "head"
    code = main([
        "train", "--model", str(model_dir), "--data", "sample", "--limit", "200", "--out", str(out), "--mode", "head",
        "--epochs", "1", "--batch-texts", "16", "--chunk-size", "128", "--save-dtype", "float16", "--quiet",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "the shipped sample holds IMDB test reviews" in err
    weights = load_file(out / "model.safetensors")
    assert {t.dtype for t in weights.values() if t.is_floating_point()} == {torch.float16}
    record = json.loads((out / "training.json").read_text())
    assert record["config"]["mode"] == "head" and len(record["history"]) == 1 and record["saved_epoch"] == 1
    assert record["command"].startswith("longbert train --model ") and "--mode head" in record["command"]
    assert "validation_accuracy" in record["history"][0]
    assert LongTextClassifier.from_pretrained(out, device="cpu").model.dtype == torch.float32


def test_train_rejects_bad_settings(capsys, tmp_path, model_dir):
    cases = [
        (["--mode", "tail"], "unknown training mode"),
        (["--pooling", "sum"], "unknown pooling"),
        (["--stride", "600"], "stride"),
        (["--epochs", "0"], "epochs must be a positive integer"),
        (["--save-dtype", "int8"], "save_dtype"),
        (["--chunk-size", "600"], "exceeds what the model allows"),
    ]
    for args, message in cases:
        code = main(["train", "--model", str(model_dir), "--data", "sample", "--limit", "20", "--out",
                     str(tmp_path / "x"), "--quiet", *args])  # fmt: skip
        assert code == 2, args
        assert message in capsys.readouterr().err
    with pytest.raises(LongbertError, match="no full batch"):
        train(str(model_dir), synthetic(4), tmp_path / "y", TrainConfig(batch_texts=8), progress=False)


@pytest.mark.slow
def test_two_process_data_parallel_matches_one_process(tmp_path):
    base = save_tiny_model(tmp_path / "base")
    data = tmp_path / "train.parquet"
    synthetic(64).to_parquet(data)
    common = ["train", "--model", str(base), "--data", str(data), "--epochs", "1", "--batch-texts", "8",
              "--chunk-size", "64", "--batch-tokens", "512", "--validation-fraction", "0", "--lr", "1e-3",
              "--precision", "fp32", "--quiet"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # without CUDA, --multi_gpu makes accelerate start N CPU processes with torchrun (gloo backend)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(free_port()), "-m", "longbert", *common]  # fmt: skip
    launch += ["--out", str(tmp_path / "two")]
    done = subprocess.run(launch, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "two" / "training.json").read_text())
    assert record["processes"] == 2
    first, second = record["rank_checksums"]
    assert first == second, "both ranks hold identical weights"
    single = subprocess.run(
        [sys.executable, "-m", "longbert", *common, "--out", str(tmp_path / "one")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    two, one = load_file(tmp_path / "two" / "model.safetensors"), load_file(tmp_path / "one" / "model.safetensors")
    assert two.keys() == one.keys()
    changed = 0
    for name in one:
        assert torch.allclose(two[name], one[name], atol=1e-5), name
        changed += not torch.equal(one[name], load_file(base / "model.safetensors")[name])
    assert changed > 0, "training changed the weights"


def test_training_starts_from_a_base_checkpoint_that_predict_refuses(tmp_path):
    base = save_tiny_encoder(tmp_path / "base")
    with pytest.raises(LongbertError, match="no trained classification head"):
        LongTextClassifier.from_pretrained(base, device="cpu")
    random_head = LongTextClassifier.from_pretrained(base, device="cpu", new_head=True)
    (answer,) = random_head.predict("fine")
    assert sum(answer.probabilities) == pytest.approx(1) and len(answer.probabilities) == 2
    frame = pd.DataFrame({"text": ["great film"] * 8 + ["awful film"] * 8, "label": [1] * 8 + [0] * 8})
    config = TrainConfig(chunking=Chunking(64, 64, 1), epochs=1, batch_texts=4, validation_fraction=0.25)
    train(str(base), frame, tmp_path / "tuned", config, device="cpu", progress=False)
    tuned = LongTextClassifier.from_pretrained(tmp_path / "tuned", device="cpu")  # a head now: not refused
    assert tuned.labels == ["NEGATIVE", "POSITIVE"]
    started, saved = load_file(base / "model.safetensors"), load_file(tmp_path / "tuned" / "model.safetensors")
    embeddings = saved["bert.embeddings.word_embeddings.weight"]
    assert not torch.equal(embeddings, started["embeddings.word_embeddings.weight"]), "the encoder was trained"
    assert torch.allclose(embeddings, started["embeddings.word_embeddings.weight"], atol=1e-2), "from the base"
    assert "classifier.weight" in saved and "classifier.weight" not in started


@pytest.mark.parametrize(
    "labels, names, message",
    [
        ([], None, "no training texts"),
        ([0, -1], None, "row 1: single-label labels must be integers 0..K-1, got -1"),
        ([0, 0], None, "at least two classes: every label is 0"),
        ([0, 1, 2], ["a", "b"], "label 2 is out of range for 2 label names"),
        (["good", "bad"], None, "row 0: single-label labels must be integers"),
        ([0, float("nan")], None, "row 1: single-label labels must be integers"),
        ([0, 1.5], None, "for a numeric target use --task regression"),
        ([["a"], "b"], None, "row 1: multi-label labels must be a list"),
        ([["a", "b"], ["c"]], ["a", "b"], r"label\(s\) 'c' not among the label names \(a, b\)"),
        ([[0, 1], [2]], None, None),
    ],
)
def test_train_rejects_bad_labels(model_dir, tmp_path, labels, names, message):
    frame = pd.DataFrame({"text": ["a film"] * len(labels), "label": pd.Series(labels, dtype=object)})
    if message is None:  # well-formed: three labels from indices, multi-hot
        assert label_targets(frame["label"])[1:][0] == ["LABEL_0", "LABEL_1", "LABEL_2"]
        return
    with pytest.raises(LongbertError, match=message):
        train(str(model_dir), frame, tmp_path / "out", TrainConfig(), labels=names, device="cpu", progress=False)


def test_regression_labels_must_be_numbers():
    with pytest.raises(LongbertError, match="row 1: regression labels must be finite numbers, got 'x'"):
        label_targets([1.5, "x"], "regression")
    kind, names, targets = label_targets([1.5, 2.0])
    assert kind == REGRESSION and names == ["value"] and targets.shape == (2, 1)


def multi_label_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Texts of sentiment words and topic words; labels: the sentiment, and 'plot' where the topic words are plot's."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        size = int(rng.integers(20, 200))
        sentiment = ["good", "great"] if i % 2 else ["bad", "awful"]
        topic = ["plot", "story"] if (i // 2) % 2 else ["actor", "cast"]
        words = list(rng.choice(sentiment, size)) + list(rng.choice(topic, size))
        rng.shuffle(words)
        labels = ["positive" if i % 2 else "negative"] + (["plot"] if (i // 2) % 2 else [])
        rows.append({"text": " ".join(words), "label": labels})
    return pd.DataFrame(rows)


def test_multi_label_training_learns_and_saves_a_multi_label_model(tmp_path):
    base = save_tiny_encoder(tmp_path / "base")
    config = TrainConfig(
        chunking=Chunking(64, 64, 1), epochs=4, learning_rate=3e-3, batch_texts=4, batch_tokens=1024,
        warmup_ratio=0.0, precision="fp32", threshold=0.4,
    )  # fmt: skip
    result = train(str(base), multi_label_frame(96), tmp_path / "out", config,
                   validation=multi_label_frame(32, seed=1), progress=False)  # fmt: skip
    assert result["history"][-1]["validation_micro_f1"] > 0.9
    loaded = LongTextClassifier.from_pretrained(tmp_path / "out", device="cpu", precision="fp32")
    assert loaded.task.kind == MULTI_LABEL and loaded.task.threshold == 0.4
    assert loaded.labels == ["negative", "plot", "positive"]
    (prediction,) = loaded.predict("great plot good story " * 50)
    assert set(prediction.labels) == {"positive", "plot"}
    assert json.loads((tmp_path / "out" / "training.json").read_text())["task"] == MULTI_LABEL


def test_regression_training_learns_a_value(tmp_path):
    base = save_tiny_encoder(tmp_path / "base")
    frame = synthetic(96).assign(label=lambda f: f["label"] * 8.0 + 1.0)
    config = TrainConfig(
        chunking=Chunking(64, 64, 1), epochs=4, learning_rate=3e-3, batch_texts=4, batch_tokens=1024,
        warmup_ratio=0.0, precision="fp32", task="regression",
    )  # fmt: skip
    validation = synthetic(32, seed=1).assign(label=lambda f: f["label"] * 8.0 + 1.0)
    result = train(str(base), frame, tmp_path / "out", config, validation=validation, progress=False)
    assert result["history"][-1]["validation_mae"] < 1.5
    loaded = LongTextClassifier.from_pretrained(tmp_path / "out", device="cpu", precision="fp32")
    assert loaded.task.kind == REGRESSION
    assert loaded.predict("good great " * 100)[0].value > loaded.predict("bad awful " * 100)[0].value + 4


@pytest.mark.parametrize(
    "rows, args, message",
    [
        ([{"text": "a", "label": "good"}, {"text": "b", "label": 1}], [], "row 0: single-label labels must be"),
        ([{"text": "a", "label": ["x"]}, {"text": "b", "label": ["y"]}], ["--task", "regression"],
         "row 0: regression labels must be finite numbers"),
        ([{"text": "a", "label": 1.5}, {"text": "b", "label": 2}], ["--task", "single_label"],
         "for a numeric target use --task regression"),
        ([{"text": "a", "label": 1}, {"text": "b", "label": 0}], ["--task", "ranking"], "unknown task 'ranking'"),
    ],
)  # fmt: skip
def test_train_command_refuses_labels_that_do_not_fit_the_task(capsys, tmp_path, model_dir, rows, args, message):
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    code = main(["train", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.csv", b"", "empty.csv as csv: No columns to parse from file"),
        ("binary.csv", b'\x00\x01"\xff\xfe binary', "binary.csv is not UTF-8 text"),
        ("broken.jsonl", b'{"text": "good", "label": 1}\n{"text": "bad", "label": \n', "broken.jsonl as jsonl"),
        ("words.csv", b"text,label\ngood,pos\nbad,0\n", "row 0: single-label labels must be integers 0..K-1"),
        ("gap.csv", b"text,label\ngood,\nbad,0\n", "row 0: single-label labels must be integers 0..K-1, got nan"),
        ("same.csv", b"text,label\ngood,1\nbad,1\n", "training needs at least two classes: every label is 1"),
        ("wide.csv", b"text,label\ngood,1000\nbad,0\nok,1\n", "the largest label, 1000, makes 1,001 classes"),
    ],
)  # fmt: skip
def test_training_data_that_cannot_be_used_is_one_line(capsys, tmp_path, model_dir, name, content, message):
    data = tmp_path / name
    data.write_bytes(content)
    code = main(["train", "--model", str(model_dir), "--data", str(data), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_out_is_checked_first_and_a_model_is_replaced_only_when_asked(capsys, tmp_path, model_dir):
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "".join(f"{w} film,{i % 2}\n" for i, w in enumerate(["good", "bad"] * 4)))
    common = ["train", "--model", str(model_dir), "--batch-texts", "2", "--epochs", "1", "--validation-fraction", "0",
              "--chunk-size", "64", "--quiet"]  # fmt: skip
    (tmp_path / "a-file").write_text("")
    for out, message in ((tmp_path / "a-file", "is a file, not a directory"), (tmp_path, "holds files a save does")):
        code = main([*common, "--data", str(tmp_path / "missing.csv"), "--out", str(out)])  # checked before the data
        assert code == 2 and message in capsys.readouterr().err
    out = tmp_path / "model"
    assert main([*common, "--data", str(data), "--out", str(out)]) == 0
    (out / "README.md").write_text("the old model's card")
    weights = (out / "model.safetensors").read_bytes()
    assert main([*common, "--data", str(data), "--out", str(out), "--seed", "1"]) == 2
    assert "holds a model already: pass --overwrite" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == weights and (out / "README.md").exists()
    assert main([*common, "--data", str(data), "--out", str(out), "--seed", "1", "--overwrite"]) == 0
    assert not (out / "README.md").exists(), "no card of the old model beside the new one"
    assert (out / "model.safetensors").read_bytes() != weights
    assert json.loads((out / "training.json").read_text())["config"]["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], "no staging left behind"
    (out / "NOTES.md").write_text("mine")
    (out / "src").mkdir()
    capsys.readouterr()
    code = main([*common, "--data", str(data), "--out", str(out), "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and "holds files a save does not write (NOTES.md, src/)" in err and len(err.splitlines()) == 1
    assert (out / "NOTES.md").read_text() == "mine" and (out / "src").is_dir(), "nothing of the user's is deleted"
    project = tmp_path / "project"
    project.mkdir()
    (project / "data.csv").write_text(data.read_text())
    code = subprocess.run([sys.executable, "-m", "longbert", *common, "--data", "data.csv", "--out", "."],
                          cwd=project, capture_output=True, text=True).returncode  # fmt: skip
    assert code == 2 and sorted(p.name for p in project.iterdir()) == ["data.csv"], "--out . is refused before training"


def test_a_kill_while_saving_leaves_the_previous_save_whole(tmp_path, model_dir, monkeypatch):
    import longbert.training

    frame = pd.DataFrame({"text": ["great film", "awful film"] * 4, "label": [1, 0] * 4})
    config = TrainConfig(chunking=Chunking(64, 64, 1), epochs=1, batch_texts=2, validation_fraction=0)
    out = tmp_path / "model"
    train(str(model_dir), frame, out, config, device="cpu", progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(longbert.training, "save_settings", killed)  # after the weights, before the rest
    with pytest.raises(KeyboardInterrupt):
        train(str(model_dir), frame, out, dataclasses.replace(config, seed=3), device="cpu", progress=False,
              overwrite=True)  # fmt: skip
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
