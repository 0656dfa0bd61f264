"""Scoring a collection: plain predict against `predict --output`, and on a local Ray cluster with 1 and 2 actors.

    python -m bench.collection --data ../shared/data/imdb --texts 1000 --out bench/collection.json

The same reviews and model for every method; each wall time includes loading the model (in the
actors for Ray), and excludes starting the Ray cluster (reported on its own). Ray is the `ray` extra.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory (default: the bundled model)")
    parser.add_argument("--data", help="IMDB: a directory of test.parquet, 'sample', or the Hub")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--part-rows", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    import ray

    from longbert import LongTextClassifier
    from longbert.bundled import default_model
    from longbert.collection import Job, local_parts, score_collection
    from longbert.data import balanced_sample, load_imdb
    from longbert.distributed import actor_parts
    from longbert.runtime import describe_device, software_versions

    model = args.model or default_model()
    frame = balanced_sample(load_imdb("test", args.data), args.texts, seed=0)
    work = Path(tempfile.mkdtemp())
    source = work / "reviews.parquet"
    frame.assign(doc=[f"r{i}" for i in range(len(frame))])[["doc", "text"]].to_parquet(source)
    texts = frame["text"].tolist()
    rows, outputs, steady, first = [], {}, {}, {}

    def plain():
        classifier = LongTextClassifier.from_pretrained(model)
        return [p.probabilities for p in classifier.iter_predict(texts)], classifier

    LongTextClassifier.from_pretrained(model)  # imports and the first load's one-off costs, untimed
    seconds, (probabilities, classifier) = timed(plain)
    outputs["predict"] = np.array(probabilities)
    rows.append({"method": "predict (one process)", "seconds": seconds})
    job = Job(model, classifier.settings.strategy.name, classifier.settings.pooling, "text", "doc",
              part_rows=args.part_rows)  # fmt: skip

    def collection(name: str, map_parts) -> float:
        out = work / name
        finished = []  # when each part came back: the first includes starting the actors and loading the model

        def recorded(parts):
            for item in map_parts(parts):
                finished.append(time.perf_counter())
                yield item

        begin = time.perf_counter()
        seconds, _ = timed(lambda: score_collection(source, out, job, recorded, progress=False))
        steady[name] = (len(finished) - 1) * args.part_rows / (finished[-1] - finished[0])
        first[name] = finished[0] - begin
        table = pq.read_table(sorted(str(p) for p in out.glob("part-*.parquet"))).to_pandas()
        assert table["id"].tolist() == [f"r{i}" for i in range(len(frame))], name
        outputs[name] = np.stack(table["probabilities"])
        return seconds

    def local():
        return local_parts(LongTextClassifier.from_pretrained(model), job, None, None)

    rows.append({"method": "predict --output (one process)", "seconds": timed(lambda: collection("local", local()))[0]})
    start, _ = timed(lambda: ray.init(log_to_driver=False, include_dashboard=False))
    settings = {"model": model, "strategy": job.strategy, "pooling": job.pooling}
    for actors in (1, 2):
        pool = actor_parts(actors, 0, **settings)
        rows.append({"method": f"--ray local --actors {actors}", "seconds": collection(f"ray{actors}", pool)})
    ray.shutdown()
    base = rows[0]["seconds"]
    for row, name in zip(rows, ["predict", "local", "ray1", "ray2"]):
        row["texts_per_s"] = len(texts) / row["seconds"]
        row["vs_predict"] = row["seconds"] / base - 1
        if name in steady:  # after the first part: the rate a long run settles at
            row["first_part_seconds"], row["steady_texts_per_s"] = first[name], steady[name]
    agreement = {name: float(np.abs(o - outputs["predict"]).max()) for name, o in outputs.items()}
    result = {"texts": len(texts), "model": model, "device": describe_device(classifier.device),
              "precision": classifier.precision_name, "ray_start_seconds": start, "max_abs_dp_vs_predict": agreement,
              "versions": software_versions(), "rows": rows}  # fmt: skip
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
