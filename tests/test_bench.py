"""The benchmark in quick mode: the article loop, BELT and longbert agree, and the table is written."""

import json
import subprocess
import sys

import pytest


def test_quick_benchmark_runs_and_agrees(tmp_path, model_dir):
    pytest.importorskip("belt_nlp")
    out = tmp_path / "table.md"
    command = [sys.executable, "-m", "bench", "--model", str(model_dir), "--data", "sample", "--texts", "6",
               "--baseline-texts", "3", "--long", "700", "--precision", "fp32", "--out", str(out),
               "--methods", "article,belt,longbert,longbert-serial"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for method in ("belt", "longbert", "longbert-serial"):
        assert f"agreement: {method} vs article" in done.stderr
    table = out.read_text()
    for method, texts in (("article", 3), ("belt", 3), ("longbert", 6), ("longbert-serial", 6)):
        assert f"| IMDB test x6 | {method} | {texts} |" in table
        assert f"| long texts 700 | {method} | 1 |" in table
    assert "| IMDB test x6 | article | 3 | " in table and "| 1.00 | - |" in table  # the baseline has no model rate


def test_unknown_method_is_one_line_error(model_dir):
    command = [sys.executable, "-m", "bench", "--model", str(model_dir), "--methods", "article,fast"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--methods: choose from" in done.stderr.strip().splitlines()[-1]


def test_variants_agree_with_the_default_and_write_a_profile(tmp_path, model_dir):
    from bench.variants import main

    out = tmp_path / "variants"
    main(["--model", str(model_dir), "--data", "sample", "--texts", "4", "--repeats", "1", "--device", "cpu",
          "--out", str(out)])  # fmt: skip
    rows = {r["variant"]: r for r in json.loads((tmp_path / "variants.json").read_text())["rows"]}
    assert rows["default"]["max_abs_dp_vs_default"] == 0
    assert rows["pad x64"]["padded_tokens"] >= rows["default"]["padded_tokens"]
    assert all(r["max_abs_dp_vs_default"] < 0.1 for r in rows.values())  # bf16 weights on the CPU included
    assert "Self CPU" in (tmp_path / "variants_profile.txt").read_text()
    assert not any("compiled" in name for name in rows), "compiling is asked for by name"
    with pytest.raises(SystemExit):
        main(["--model", str(model_dir), "--variants", "default;fastest"])
