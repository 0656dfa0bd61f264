"""The Space snapshot: one commit, every binary an LFS pointer, nothing over 10 MB outside LFS, and the app
starting from a clone of it with the real weights."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from build_space import CPU_INDEX, build, is_binary

from bench.load import free_port, start_app

ROOT = Path(__file__).resolve().parents[1]
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
pytestmark = pytest.mark.skipif(
    shutil.which("git-lfs") is None, reason="git-lfs is not installed (.ci/run installs it)"
)


def git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("space") / "snapshot"
    build(out, "cpu")
    return out


def test_every_binary_is_an_lfs_pointer_and_no_large_file_is_outside_lfs(space):
    assert git("rev-list", "--count", "HEAD", cwd=space).strip() == "1", "no history"
    in_lfs = set(git("lfs", "ls-files", "--name-only", cwd=space).split())
    tree = [line.split(None, 4) for line in git("ls-tree", "-r", "-l", "HEAD", cwd=space).splitlines()]
    assert {"longbert/model/model.safetensors", "docs/demo.png", "eval/results/imdb-test/predictions.parquet"} <= in_lfs
    for _mode, _kind, blob, size, name in tree:
        stored = subprocess.run(["git", "cat-file", "blob", blob], cwd=space, capture_output=True, check=True).stdout
        if is_binary(space / name):
            assert name in in_lfs and stored.startswith(LFS_POINTER), name
        assert int(size) <= 10 * 2**20, f"{name} is stored outside LFS at {int(size):,} bytes"
    assert not any(name.startswith(("tests/", ".ci/")) for *_, name in tree)


def test_space_configuration(space):
    readme = (space / "README.md").read_text()
    head = readme.split("\n---\n", 1)[0]
    assert "sdk: gradio" in head and "app_file: app.py" in head and "suggested_hardware: cpu-basic" in head
    requirements = (space / "requirements.txt").read_text().splitlines()
    assert requirements[0] == f"--extra-index-url {CPU_INDEX}", "a CPU Space gets a CPU-only torch"
    assert any(line.startswith("torch") for line in requirements) and "gradio>=5.0,<7" in requirements


@pytest.mark.slow
def test_the_app_starts_from_a_clone_of_the_snapshot(space, tmp_path):
    pytest.importorskip("gradio")
    from gradio_client import Client

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", f"file://{space}", str(clone)], check=True, capture_output=True)
    weights = "longbert/model/model.safetensors"
    assert sha256(clone / weights) == sha256(ROOT / weights), "the clone has the real weights, not a pointer"
    port = free_port()
    cleared = {name: None for name in os.environ if name.startswith("LONGBERT_")}  # the clone's own defaults
    server = start_app(port, {**cleared, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}, cwd=clone, timeout=120)
    try:
        url = f"http://127.0.0.1:{port}/"
        review = "A wonderful, moving film: the acting is superb and I loved every minute of it."
        verdict, *_ = Client(url, verbose=False).predict(
            review, str(clone / "longbert" / "model"), 510, 510, 1, "mean", "fixed windows", api_name="/predict"
        )
        assert verdict.startswith("### POSITIVE"), verdict
    finally:
        server.terminate()
        server.wait(timeout=30)
