"""How fast the demo answers its longest example, per precision: computed afresh, and warm (pre-scored at start).

    python -m bench.demo --precisions fp32,int8 --out bench/demo.json

"computed" is the app's classify() on the longest example with its chunk cache cleared (the model already
loaded and used once): what any new review of that length costs. "warm" is the same request once the app's
start-up has scored the examples (demo.preload does, as Gradio's cache_examples would): what a visitor picking
that example waits for the answer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from longbert.runtime import describe_device, software_versions


def timed(call, repeats: int, before=None) -> list[float]:
    seconds = []
    for _ in range(repeats):
        if before:
            before()
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.demo", description=__doc__)
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    from ui import config, demo, models, views

    model = models.model_choices()[0]
    longest = views.readable(demo.example_reviews()[0])
    top = config.CHUNK_RANGE[1]
    rows = []
    for precision in args.precisions.split(","):
        os.environ["LONGBERT_PRECISION"] = precision  # how the app is told its precision
        models.forget_models()
        classifier = models.load_classifier(model)
        demo.classify("A short warm-up review, to run the model once.", model, top, top, 1, "mean")
        request = lambda: demo.classify(longest, model, top, top, 1, "mean")  # noqa: E731
        computed = timed(request, args.repeats, before=models.forget_scores)
        request()
        warm = timed(request, args.repeats)
        encoded = classifier.encode([longest])[0]
        row = {"precision": classifier.precision_name, "tokens": len(encoded.ids),
               "chunks": len(classifier.chunk([encoded])), "computed_s": [round(s, 3) for s in computed],
               "computed_median_s": round(statistics.median(computed), 3), "warm_s": [round(s, 4) for s in warm],
               "warm_median_s": round(statistics.median(warm), 4)}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"device": describe_device(classifier.device), "versions": software_versions(), "rows": rows}
    if args.out:
        with open(args.out, "w") as file:
            json.dump(result, file, indent=1)


if __name__ == "__main__":
    main()
