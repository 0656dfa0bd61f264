"""Scoring on a local Ray cluster: the same answers as one process, actors that die cost a retry, Ray Data API."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow.parquet as pq
import pytest

from longbert import Chunking
from longbert.cli import main
from longbert.collection import Job, local_parts, score_collection
from longbert.data import SAMPLE
from longbert.distributed import actor_parts, predict_dataset

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    frame = pd.read_parquet(SAMPLE)
    frame["doc"] = [f"r{i:03d}" for i in range(len(frame))]
    path = tmp_path_factory.mktemp("in") / "reviews.parquet"
    frame[["doc", "text"]].to_parquet(path)
    return path


def read_output(out) -> pd.DataFrame:
    return pq.read_table(sorted(str(p) for p in out.glob("part-*.parquet"))).to_pandas()


def test_two_actors_give_the_single_process_answers(tmp_path, capsys, model_dir, reviews):
    common = [str(reviews), "--model", str(model_dir), "--id-column", "doc", "--precision", "fp32", "--quiet",
              "--part-rows", "40"]  # fmt: skip
    assert main(["predict", *common, "--output", str(tmp_path / "local")]) == 0
    assert main(["predict", *common, "--output", str(tmp_path / "ray"), "--ray", "local", "--actors", "2"]) == 0
    capsys.readouterr()
    local, distributed = read_output(tmp_path / "local"), read_output(tmp_path / "ray")
    assert len(distributed) == 300 and distributed["id"].is_unique
    assert distributed["id"].tolist() == local["id"].tolist()
    assert distributed["label"].tolist() == local["label"].tolist()
    assert np.allclose(np.stack(distributed["probabilities"]), np.stack(local["probabilities"]), atol=1e-4)


def test_an_actor_killed_mid_run_costs_a_retry_not_the_job(tmp_path, model_dir, reviews, classifier):
    job = Job(str(model_dir), "510/510/1", "mean", "text", "doc", part_rows=20)
    score_collection(reviews, tmp_path / "local", job, local_parts(classifier, job, None, "mean"), progress=False)
    pool = actor_parts(2, 0, model=str(model_dir), strategy="510/510/1", pooling="mean", precision="fp32")
    killed = []

    def killing_one_actor(parts):
        for number, part in enumerate(parts):
            if number == 4 and not killed:  # both actors are busy with earlier parts: kill one of them
                actors = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[0].startswith(
                    "ray::Predictor")]  # fmt: skip
                os.kill(actors[0].pid, signal.SIGKILL)
                killed.append(actors[0].pid)
            yield part

    out = tmp_path / "ray"
    done = score_collection(reviews, out, job, lambda parts: pool(killing_one_actor(parts)), progress=False)
    assert killed and done["parts"] == 15 and done["errors"] == 0
    result, expected = read_output(out), read_output(tmp_path / "local")
    assert result["id"].tolist() == expected["id"].tolist(), "every id exactly once"
    assert np.allclose(np.stack(result["probabilities"]), np.stack(expected["probabilities"]), atol=1e-4)


def two_node_report(helper: str, tmp_path, model_dir, reviews, classifier) -> dict:
    """A one-process run into tmp_path/local, then tests/helpers/HELPER (a two-node loopback cluster losing its
    worker) into tmp_path/ray: the helper's report."""
    job = Job(str(model_dir), "510/510/1", "mean", "text", "doc", part_rows=20)
    score_collection(reviews, tmp_path / "local", job, local_parts(classifier, job, None, "mean"), progress=False)
    script = Path(__file__).parent / "helpers" / helper
    argv = [str(model_dir), str(reviews), str(tmp_path / "ray"), str(tmp_path / "report.json")]
    done = subprocess.run([sys.executable, str(script), *argv],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp_path / "report.json").read_text())


def test_a_two_node_cluster_that_loses_its_worker_node_finishes_with_every_id_once(
    tmp_path, model_dir, reviews, classifier
):
    report = two_node_report("lose_a_node.py", tmp_path, model_dir, reviews, classifier)
    assert report["addresses"] == ["127.0.0.1"], "both nodes on loopback"
    assert report["removed"] and report["alive_nodes"] == 1 and report["parts"] == 15 and report["errors"] == 0
    result, expected = read_output(tmp_path / "ray"), read_output(tmp_path / "local")
    assert result["id"].tolist() == expected["id"].tolist(), "every id exactly once"
    assert np.allclose(np.stack(result["probabilities"]), np.stack(expected["probabilities"]), atol=1e-4)


def test_ray_local_listens_on_loopback_only():
    code = ("from longbert.distributed import cluster\nwith cluster('local'):\n    import ray\n"
            "    print('node address:', ray.util.get_node_ip_address())")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("node address:")]
    assert line == "node address: 127.0.0.1"


def test_a_ray_dataset_gets_the_prediction_columns(model_dir, classifier):
    frame = pd.read_parquet(SAMPLE).head(24)
    dataset = ray.data.from_pandas(frame[["text", "label"]])
    scored = predict_dataset(dataset, str(model_dir), "510/255/1", "max", actors=1, gpus_per_actor=0, batch_size=10,
                             precision="fp32").to_pandas()  # fmt: skip
    assert list(scored.columns[:2]) == ["text", "label"] and {"probabilities", "num_chunks", "error"} <= set(scored)
    order = [frame["text"].tolist().index(t) for t in scored["text"]]
    direct = classifier.predict(frame["text"].tolist(), Chunking(510, 255, 1), "max")
    assert np.allclose(np.stack(scored["probabilities"]), [direct[i].probabilities for i in order], atol=1e-4)


def test_the_command_joins_a_loopback_cluster_by_address_and_survives_losing_its_worker(
    tmp_path, model_dir, reviews, classifier
):
    report = two_node_report("join_by_address.py", tmp_path, model_dir, reviews, classifier)
    assert report["address"].startswith("127.0.0.1:") and report["removed"]
    assert report["code"] == 0, report["stderr"][-3000:]
    result, expected = read_output(tmp_path / "ray"), read_output(tmp_path / "local")
    assert result["id"].tolist() == expected["id"].tolist(), "every id exactly once"
    assert np.allclose(np.stack(result["probabilities"]), np.stack(expected["probabilities"]), atol=1e-4)


def short_temp_dir() -> Path:
    """A temporary directory with a short path (Ray's socket paths must stay under 108 characters)."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="lb", dir="/tmp"))


def command_env(cache: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",)}
    return {**env, "LONGBERT_CACHE": str(cache), **extra}


def test_ray_local_starts_its_own_cluster_even_with_a_dead_one_on_record(tmp_path, model_dir, reviews):
    temp = short_temp_dir()
    (temp / "ray").mkdir()
    (temp / "ray" / "ray_current_cluster").write_text("192.0.2.2:6392")  # a cluster on record, long gone
    env = command_env(tmp_path / "cache", RAY_TMPDIR=str(temp), RAY_ADDRESS="192.0.2.2:6392")
    command = [
        sys.executable,
        "-m",
        "longbert",
        "predict",
        str(reviews),
        "--output",
        str(tmp_path / "out"),
        "--model",
        str(model_dir),
        "--id-column",
        "doc",
        "--part-rows",
        "100",
        "--quiet",
        "--ray",
        "local",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "192.0.2.2" not in done.stderr and len(read_output(tmp_path / "out")) == 300
    assert list((tmp_path / "cache" / "ray-local").glob("*.json")) == [], "its cluster ended with the run"


def test_a_connect_that_fails_is_one_line_naming_the_address(tmp_path, model_dir, reviews):
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    for address, said in ((f"127.0.0.1:{port}", "Connection refused"), ("not-an-address", "give 'local'")):
        command = [sys.executable, "-m", "longbert", "predict", str(reviews), "--output", str(tmp_path / "out"),
                   "--model", str(model_dir), "--ray", address, "--ray-timeout", "5"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2 and len(lines) == 1 and said in lines[0], done.stderr
        assert address in lines[0] or "not-an-address" in lines[0]


def test_a_killed_ray_local_drivers_processes_are_ended_by_the_next_run(tmp_path, model_dir, reviews):
    cache = tmp_path / "cache"
    env = command_env(cache)
    command = [sys.executable, "-m", "longbert", "predict", str(reviews), "--model", str(model_dir), "--id-column",
               "doc", "--part-rows", "10", "--quiet", "--ray", "local"]  # fmt: skip
    driver = subprocess.Popen([*command, "--output", str(tmp_path / "first")], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not list((tmp_path / "first").glob("part-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.2)
    (record,) = (cache / "ray-local").glob("*.json")
    recorded = json.loads(record.read_text())["processes"]
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(30)
    time.sleep(2)
    left = [p["pid"] for p in recorded if psutil.pid_exists(p["pid"])]
    assert left, "Ray's agents outlive a driver killed with SIGKILL (what the next run cleans up)"
    done = subprocess.run([*command, "--output", str(tmp_path / "second")], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    alive = [pid for pid in left if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert alive == [], "the next --ray local run ended its killed predecessor's processes"
    assert list((cache / "ray-local").glob("*.json")) == []
