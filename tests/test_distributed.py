"""Scoring on a local Ray cluster: the same answers as one process, actors that die cost a retry, Ray Data API."""

import json
import os
import signal
import subprocess
import sys
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


def test_a_two_node_cluster_that_loses_its_worker_node_finishes_with_every_id_once(
    tmp_path, model_dir, reviews, classifier
):
    job = Job(str(model_dir), "510/510/1", "mean", "text", "doc", part_rows=20)
    score_collection(reviews, tmp_path / "local", job, local_parts(classifier, job, None, "mean"), progress=False)
    script = Path(__file__).parent / "helpers" / "lose_a_node.py"
    argv = [str(model_dir), str(reviews), str(tmp_path / "ray"), str(tmp_path / "report.json")]
    done = subprocess.run([sys.executable, str(script), *argv],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["addresses"] == ["127.0.0.1"], "both nodes on loopback"
    assert report["removed"] and report["alive_nodes"] == 1 and report["parts"] == 15 and report["errors"] == 0
    result, expected = read_output(tmp_path / "ray"), read_output(tmp_path / "local")
    assert result["id"].tolist() == expected["id"].tolist(), "every id exactly once"
    assert np.allclose(np.stack(result["probabilities"]), np.stack(expected["probabilities"]), atol=1e-4)


def test_ray_local_listens_on_loopback_only():
    code = ("from longbert.distributed import connect; connect('local'); import ray; "
            "print('node address:', ray.util.get_node_ip_address())")  # fmt: skip
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
