"""A core install (no extras) runs `longbert predict`: longbert imports no optional package on that path."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HELPERS = Path(__file__).parent / "helpers"


@pytest.mark.slow
def test_predict_runs_without_any_optional_package(model_dir):
    done = subprocess.run(
        [sys.executable, str(HELPERS / "core_only.py"), "predict", "--model", str(model_dir), "--quiet"],
        input='{"text": "A wonderful, moving film. I loved it."}\n', capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["num_tokens"] == 10


def test_the_guard_refuses_optional_imports_from_longbert_only():
    code = (
        f"import sys; sys.path.insert(0, {str(HELPERS)!r}); import core_only; core_only.guard(); import pandas; "
        "exec('import pandas', {'__name__': 'longbert.somewhere'})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "No module named 'pandas' (not in the core install)" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("flags", [["--strategy", "sentences 64/64/1"], ["--explain"]])
def test_sentences_without_their_extra_are_a_one_line_error(model_dir, flags):
    done = subprocess.run(
        [sys.executable, str(HELPERS / "core_only.py"), "predict", "--model", str(model_dir), "--quiet", *flags],
        input=json.dumps({"text": "A fine film. " * 100}) + "\n", capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "longbert predict: error: sentence-aware chunking and --explain need blingfire: "
        "pip install 'longbert[sentences]'"
    ]


@pytest.mark.slow
def test_collections_and_ray_without_their_extras_are_one_line_errors(model_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "fine"}\n')
    for flags, message in (([], "and --output need pyarrow"), (["--ray", "local"], "--ray needs Ray")):
        done = subprocess.run(
            [sys.executable, str(HELPERS / "core_only.py"), "predict", str(source), "--output", str(tmp_path / "o"),
             "--model", str(model_dir), "--quiet", *flags], capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, (
            done.stderr[-2000:]
        )
