"""The benchmark in quick mode: the article loop, BELT and longbert agree, and the table is written."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quick_benchmark_runs_and_agrees(tmp_path, model_dir):
    pytest.importorskip("belt_nlp")
    out = tmp_path / "table.md"
    command = [sys.executable, "-m", "bench", "--model", str(model_dir), "--data", "sample", "--texts", "6",
               "--baseline-texts", "3", "--long", "700", "--precision", "fp32", "--out", str(out),
               "--methods", "article,belt,longbert,longbert-serial,longbert-openvino"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for method in ("belt", "longbert", "longbert-serial", "longbert-openvino"):
        assert f"agreement: {method} vs article" in done.stderr
    assert "fp32 GEMM" in out.read_text().splitlines()[0], "the machine's own rate, measured in the run"
    lines = [line for line in out.read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
        rows[cells[header[0]], cells[header[1]]] = cells
    for method, texts in (("article", 3), ("belt", 3), ("longbert", 6), ("longbert-serial", 6)):
        assert rows["IMDB test x6", method][header[2]] == str(texts)
        assert rows["long texts 700", method][header[2]] == "1"
    ratio, model_rate = (next(h for h in header if word in h) for word in ("x article", "model tokens"))
    article = rows["IMDB test x6", "article"]
    assert article[ratio] == "1.00" and article[model_rate] == "-", "the baseline is 1x and has no model rate"
    assert float(rows["IMDB test x6", "longbert"][ratio]) > 0 and rows["IMDB test x6", "longbert"][model_rate] != "-"
    share = next(h for h in header if "GEMM" in h)
    assert article[share] == "-" and rows["IMDB test x6", "longbert-openvino"][share].endswith("%")


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


@pytest.mark.slow
def test_runtimes_bench_times_each_engine_against_torch_fp32(capsys, model_dir):
    from bench.runtimes import main

    main(["--model", str(model_dir), "--reviews", "4", "--engines", "ort-fp32,ov-f32"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("# ") and "threads" in lines[0]
    rows = {row["engine"]: row for row in map(json.loads, lines[1:])}
    assert list(rows) == ["torch-fp32", "ort-fp32", "ov-f32"], "torch fp32 first, as the reference"
    assert all(row["tokens_per_s"] > 0 and row["labels_agree"] == 1.0 for row in rows.values())
    assert rows["ov-f32"]["max_logit_diff"] < 1e-3, "fp32 engines give fp32's answers"
