"""The benchmark in quick mode: the article loop, BELT and longbert agree, and the table is written."""

import subprocess
import sys

import pytest


def test_quick_benchmark_runs_and_agrees(tmp_path, model_dir):
    pytest.importorskip("belt_nlp")
    out = tmp_path / "table.md"
    command = [sys.executable, "-m", "bench", "--model", str(model_dir), "--data", "sample", "--texts", "6",
               "--long", "700", "--precision", "fp32", "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "agreement: belt vs article" in done.stderr and "agreement: longbert vs article" in done.stderr
    table = out.read_text()
    for method in ("article", "belt", "longbert"):
        assert f"| IMDB test x6 | {method} |" in table
        assert f"| long texts 700 | {method} |" in table
