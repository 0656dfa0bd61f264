"""The README's examples run as written: its Python blocks, the `longbert` commands of its Use section, and the
examples in `longbert predict --help` (on a tiny model named by $LONGBERT_MODEL, as a user's would be)."""

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from longbert.cli import PREDICT_EXAMPLES, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
REVIEW = "A slow start, but the second half is wonderful. " * 120  # 1,200 tokens: several chunks


def blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    return README[start : README.index("\n## ", start + 1)]


def commands(text: str) -> list[list[str]]:
    """The shell lines that run longbert, as words, comments dropped."""
    lines = [shlex.split(line, comments=True) for line in text.splitlines()]
    return [words for words in lines if "longbert" in words]


@pytest.fixture
def user(tmp_path, monkeypatch, model_dir):
    """A working directory with the examples the README reads, and the default model set to a tiny one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LONGBERT_MODEL", str(model_dir))
    shutil.copytree(ROOT / "examples", tmp_path / "examples")  # what the README's lines read, as a clone has them
    return tmp_path


def run_shell_line(line: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """`[cat FILE | echo TEXT |] longbert ARGS`, run in this process: what the shell would pipe in, then main()."""
    if "|" in line:
        cut = line.index("|")
        feed, command = [line[:cut]], line[cut + 1 :]
    else:
        feed, command = [], line
    data = b""
    if feed:
        ((program, argument),) = feed
        assert program in ("cat", "echo"), line
        data = Path(argument).read_bytes() if program == "cat" else (argument + "\n").encode()
    assert command[0] == "longbert", line
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code = main(command[1:])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_readme_python_blocks_run_as_written(user, capsys):
    code = blocks("python", section("Use"))[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    prediction = namespace["prediction"]
    assert prediction.label in ("NEGATIVE", "POSITIVE") and len(prediction.chunks) >= 3
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[0] in ("NEGATIVE", "POSITIVE") and printed[1].count("510)") >= 2, printed


@pytest.mark.parametrize("source", ["README Use section", "predict --help"])
def test_the_longbert_commands_run_as_written(user, capsys, monkeypatch, source):
    text = "\n".join(blocks("bash", section("Use"))) if source.startswith("README") else PREDICT_EXAMPLES
    lines = commands(text)
    assert len(lines) >= 4
    for line in lines:
        code, out, err = run_shell_line(line, capsys, monkeypatch)
        assert code == 0, (line, err)
        records = [json.loads(record) for record in out.splitlines()]
        assert records and all(r["label"] in ("NEGATIVE", "POSITIVE") for r in records), line
    assert main(["predict", "--help"]) == 0
    assert PREDICT_EXAMPLES.splitlines()[1].strip() in capsys.readouterr().out


@pytest.mark.slow
def test_the_readme_ray_block_runs_as_written(user, model_dir):
    pytest.importorskip("ray")
    import pandas as pd
    import ray

    frame = pd.DataFrame({"doc": ["a", "b", "c"], "text": [REVIEW, "Dull.", "A fine film."]})
    frame.to_parquet(user / "reviews.parquet")
    (user / "docs").mkdir()
    frame.rename(columns={"text": "body"}).to_parquet(user / "docs" / "part.parquet")
    lines = [line for line in commands("\n".join(blocks("bash", section("Collections and Ray")))) if "auto" not in line]
    assert len(lines) == 2
    try:
        for line in lines:
            assert main(line[1:]) == 0, line
    finally:
        ray.shutdown()
    assert pd.read_parquet(user / "scored")["id"].tolist() == ["a", "b", "c"]
    assert len(pd.read_parquet(user / "scored-ray")["chunk_outputs"][0]) >= 3
    (code,) = blocks("python", section("Collections and Ray"))
    shutil.rmtree(user / "scored")
    done = subprocess.run([sys.executable, "-c", code], cwd=user, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    scored = pd.read_parquet(user / "scored")
    assert len(scored) == 3 and set(scored["label"]) <= {"NEGATIVE", "POSITIVE"} and scored["error"].isna().all()


@pytest.mark.slow
def test_the_use_lines_run_verbatim_in_a_fresh_clone(tmp_path, model_dir):
    """A clone of the committed tree with the .venv `make app` leaves (this one's, linked: a superset of the app
    extra), and the Use section's shell block run by bash as a person pastes it, without .venv/bin on PATH."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    (clone / ".venv").symlink_to(Path(sys.prefix))
    script = "set -e\n" + "\n".join(blocks("bash", section("Use")))
    path = ":".join(p for p in os.environ["PATH"].split(":") if not p.startswith(sys.prefix))
    env = {**os.environ, "PATH": path, "LONGBERT_MODEL": str(model_dir)}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) >= len(commands(script)) >= 5, "a line or more from every command"
    assert all(r["label"] in ("NEGATIVE", "POSITIVE") for r in records)
