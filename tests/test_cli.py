"""`longbert predict`: JSON lines in input order, and a one-line error with exit code 2 for every bad input."""

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import save_tiny_encoder, save_tiny_model

from longbert import Chunking
from longbert.cli import build_parser, main, train_config
from longbert.training import TrainConfig

LONG_REVIEW = "the film was great " * 825  # 3,300 tokens: 7 chunks of 510


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_long_review_prints_one_line_with_a_probability_per_chunk(capsys, tmp_path, model_dir):
    review = tmp_path / "review.txt"
    review.write_text(LONG_REVIEW)
    code, out, err = run(
        capsys, "predict", str(review), "--model", str(model_dir), "--chunk-size", "510", "--stride", "510",
        "--minimal-chunk-size", "1", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    (line,) = out.splitlines()
    record = json.loads(line)
    assert record["num_tokens"] == 3300
    assert record["num_chunks"] == 7 == len(record["chunks"])
    assert [c["tokens"] for c in record["chunks"]] == [510] * 6 + [240]
    assert all(set(c["probabilities"]) == {"NEGATIVE", "POSITIVE"} for c in record["chunks"])
    assert record["label"] in ("NEGATIVE", "POSITIVE")
    assert record["engine"].startswith("torch "), "the line says which engine answered (auto is torch in the tests)"


def test_predict_reads_jsonl_and_txt_files_in_order(capsys, tmp_path, model_dir):
    lines = tmp_path / "texts.jsonl"
    lines.write_text("\n".join(json.dumps({"text": t, "id": i}) for i, t in enumerate(["one", "", "three four"])))
    single = tmp_path / "single.txt"
    single.write_text("five six seven")
    code, out, err = run(capsys, "predict", str(lines), str(single), "--model", str(model_dir), "--pooling", "max")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["num_tokens"] for r in records] == [1, 0, 2, 3]
    assert records[1]["label"] is None and records[1]["num_chunks"] == 0


def given_stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_predict_reads_stdin_json_lines(capsys, monkeypatch, model_dir):
    given_stdin(monkeypatch, b'{"text": "good"}\n\n{"text": "bad bad"}\n')
    code, out, _ = run(capsys, "predict", "--model", str(model_dir), "--strategy", "head+tail")
    assert code == 0
    assert [json.loads(line)["num_tokens"] for line in out.splitlines()] == [1, 2]


def test_plain_text_on_stdin_is_one_text(capsys, monkeypatch, model_dir, tokenizer):
    text = 'A long review.\n\nIts second paragraph has {braces} and "quotes".\n'
    given_stdin(monkeypatch, text.encode())
    code, out, err = run(capsys, "predict", "--model", str(model_dir))
    assert code == 0, err
    (record,) = map(json.loads, out.splitlines())
    assert record["num_tokens"] == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert record["chunks"][0]["span"] == [0, len(text.rstrip())], "the whole of stdin, newlines included"
    line = '{"text": "good"}'
    given_stdin(monkeypatch, line.encode())
    code, out, _ = run(capsys, "predict", "--model", str(model_dir), "--stdin", "text")  # forced: the JSON is the text
    assert json.loads(out)["num_tokens"] == len(tokenizer(line, add_special_tokens=False)["input_ids"]) > 1
    given_stdin(monkeypatch, b"just words\n")
    code, out, err = run(capsys, "predict", "--model", str(model_dir), "--stdin", "jsonl")
    assert code == 2 and out == "" and "stdin line 1: not valid JSON" in err


@pytest.mark.parametrize(
    "data, message",
    [
        (b'{"text": "fine"}\n{"text": "a \\ud800 b"}\n', "stdin line 2 holds a lone surrogate (U+D800 at character 2)"),
        (
            b"a fine review\n\xff\xfe then bytes that are not UTF-8",
            "stdin is not UTF-8 text: invalid start byte at byte 14",
        ),
    ],
)
def test_text_that_is_not_unicode_is_one_line_before_any_output(capsys, monkeypatch, model_dir, data, message):
    given_stdin(monkeypatch, data)
    code, out, err = run(capsys, "predict", "--model", str(model_dir))
    assert (code, out) == (2, ""), "refused before the first text is classified"
    assert err.startswith(f"longbert predict: error: {message}") and err.count("\n") == 1


def test_model_settings_are_the_defaults(capsys, tmp_path, model_dir):
    from conftest import save_tiny_model

    from longbert.settings import Chunking, Settings, save_settings

    directory = save_tiny_model(tmp_path / "model")
    save_settings(Settings(Chunking(100, 50, 10), "max"), directory)
    review = tmp_path / "r.txt"
    review.write_text(LONG_REVIEW)
    _, out, _ = run(capsys, "predict", str(review), "--model", str(directory))
    assert [c["tokens"] for c in json.loads(out)["chunks"]][:2] == [100, 100]
    assert json.loads(out)["num_chunks"] == 65
    _, out, _ = run(capsys, "predict", str(review), "--model", str(directory), "--chunk-size", "300")
    assert json.loads(out)["num_chunks"] == 11


def bad_model_dirs(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    empty = tmp_path / "empty"
    empty.mkdir()
    no_tokenizer = tmp_path / "no-tokenizer"  # the weights and settings without the tokenizer files
    save_tiny_model(tmp_path / "whole")
    no_tokenizer.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tmp_path / "whole" / name, no_tokenizer)
    return broken, empty, save_tiny_encoder(tmp_path / "encoder"), no_tokenizer


@pytest.mark.parametrize(
    "args, message",
    [
        (["--stride", "600", "--chunk-size", "510"], "stride (600) must not exceed chunk_size (510)"),
        (["--chunk-size", "511"], "chunk_size (511) exceeds what the model allows (510"),
        (["--chunk-size", "0"], "chunk_size must be a positive integer"),
        (["--stride", "-5"], "stride must be a positive integer"),
        (["--minimal-chunk-size", "0"], "minimal_chunk_size must be a positive integer"),
        (["--pooling", "sum"], "unknown pooling 'sum'"),
        (["--batch-tokens", "0"], "--batch-tokens must be a positive integer"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--precision", "fp8"], "unknown precision 'fp8'"),
        (["--strategy", "middle"], "unknown strategy 'middle'"),
        (["--strategy", "head", "--chunk-size", "100"], "either --strategy or the chunk flags"),
        (["--chunk-size", "abc"], "invalid int value: 'abc'"),
    ],
)
def test_bad_parameters(capsys, tmp_path, model_dir, args, message):
    review = tmp_path / "r.txt"
    review.write_text("fine")
    code, out, err = run(capsys, "predict", str(review), "--model", str(model_dir), *args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert message in err


def test_bad_models_and_inputs(capsys, tmp_path, model_dir):
    broken, empty, headless, no_tokenizer = bad_model_dirs(tmp_path)
    capsys.readouterr()  # transformers' bar from saving the headless model
    review = tmp_path / "r.txt"
    review.write_text("fine")
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_text('{"text": "ok"}\n{"txt": "no"}\n')
    cases = [
        (["--model", str(tmp_path / "missing")], "model directory not found"),
        (["--model", str(broken)], "cannot load the model in"),
        (["--model", str(empty)], "has no config.json"),
        (["--model", str(headless)], "has no trained classification head (classifier.bias, classifier.weight not in"),
        (["--model", "someone/not-a-cached-model"], "Hub"),
        (["--model", str(no_tokenizer)], "has 5 tokens but the model's vocabulary has 30,522: its tokenizer files"),
        ([str(tmp_path / "nope.txt"), "--model", str(model_dir)], "no such file"),
        ([str(bad_jsonl), "--model", str(model_dir)], 'bad.jsonl line 2: expected an object with a string "text"'),
        ([str(model_dir / "model.safetensors"), "--model", str(model_dir)], "expected .txt, .jsonl, .csv or .parquet"),
        ([str(model_dir / "config.json"), "--model", str(model_dir)], "config.json line 1: not valid JSON"),
    ]
    for args, message in cases:
        argv = ["predict", *args] if args[0].startswith("--") is False else ["predict", str(review), *args]
        code, out, err = run(capsys, *argv)
        assert code == 2, (args, err)
        assert out == ""
        assert len(err.strip().splitlines()) == 1, err
        assert message in err, (message, err)


def test_no_model_and_no_bundled_model(capsys, tmp_path, monkeypatch):
    import longbert.bundled

    monkeypatch.delenv("LONGBERT_MODEL", raising=False)
    monkeypatch.setattr(longbert.bundled, "BUNDLED_MODEL_DIR", tmp_path / "absent")
    review = tmp_path / "r.txt"
    review.write_text("fine")
    code, _, err = run(capsys, "predict", str(review))
    assert code == 2 and "pass --model" in err


@pytest.mark.slow
def test_predict_without_a_model_uses_the_bundled_one_offline(capsys, tmp_path, monkeypatch):
    import pandas as pd

    import longbert.bundled

    monkeypatch.delenv("LONGBERT_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sample = pd.read_parquet(longbert.bundled.BUNDLED_MODEL_DIR.parent / "data" / "imdb_test_sample.parquet")
    sample = sample.sort_values("text", key=lambda t: t.str.len()).iloc[-40:]  # the longest: several chunks each
    reviews = tmp_path / "reviews.jsonl"
    reviews.write_text("".join(json.dumps({"text": t}) + "\n" for t in sample["text"]))
    code, out, err = run(capsys, "predict", str(reviews), "--device", "cpu")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert all(r["num_chunks"] >= 2 for r in records)
    predicted = [r["label"] == "POSITIVE" for r in records]
    assert sum(p == bool(y) for p, y in zip(predicted, sample["label"])) >= 34  # 93% on the split; 85% here


@pytest.mark.slow
def test_installed_command_exit_code_and_output(tmp_path, model_dir):
    review = tmp_path / "r.txt"
    review.write_text(LONG_REVIEW)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "longbert", "predict", str(review), "--model", str(model_dir)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["num_chunks"] == 7
    done = subprocess.run([*command, "--stride", "999"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_train_flags_default_to_train_config_and_set_its_fields(capsys):
    parser = build_parser()
    assert train_config(parser.parse_args(["train", "--model", "m", "--out", "o"])) == TrainConfig()
    given = ["--lr", "1e-4", "--max-chunks", "3", "--epochs", "7", "--pooling", "max", "--save-dtype", "bfloat16",
             "--chunk-size", "128", "--minimal-chunk-size", "16"]  # fmt: skip
    config = train_config(parser.parse_args(["train", "--model", "m", "--out", "o", *given]))
    expected = dataclasses.replace(
        TrainConfig(), learning_rate=1e-4, max_chunks=3, epochs=7, pooling="max", save_dtype="bfloat16",
        chunking=Chunking(128, 128, 16),
    )  # fmt: skip
    assert config == expected, "each flag sets its own field, the stride follows the chunk size"
    code, help_text, _ = run(capsys, "train", "--help")
    assert code == 0
    assert f"(default {TrainConfig().learning_rate})" in help_text and f"(default {TrainConfig().epochs})" in help_text


@pytest.mark.parametrize("precision", ["int8", "openvino"])
def test_cli_predicts_with_each_cpu_engine(capsys, tmp_path, model_dir, precision):
    review = tmp_path / "review.txt"
    review.write_text(LONG_REVIEW)
    code, out, err = run(capsys, "predict", str(review), "--model", str(model_dir), "--precision", precision, "--quiet")
    assert code == 0, err
    (line,) = out.strip().splitlines()
    assert json.loads(line)["num_chunks"] > 1
    from longbert.engines import ENGINES

    assert json.loads(line)["engine"] == f"{ENGINES[precision].name} {ENGINES[precision].load().precision()}"
