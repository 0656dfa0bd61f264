"""Recompute a results set's summary (every metric, the comparisons with head and with the best, calibration) and
its figures from its stored per-review outputs, without scoring: what a newer version of the statistics says of
an older run. The costs it measured (chunks, tokens, seconds) are kept.

    python -m eval.restate eval/results/imdb-space-sample-2000 [more results directories]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eval.metrics import ADJUSTMENT
from eval.results import Results, parse_setting
from eval.run import Entry, figure_writer, summarize

MEASURED = ("chunks", "tokens", "seconds_per_1k")


def restated(results: Results) -> Results:
    """The set with its rows recomputed by eval.run.summarize from its predictions; measured costs kept."""
    entries = [Entry(*parse_setting(setting)) for setting in results.settings]
    outputs = {setting: results.outputs(setting) for setting in results.settings}
    buckets = results.predictions["bucket"].to_numpy()
    rows = summarize(outputs, entries, results.targets, buckets, results.task)
    for row, old in zip(rows, results.rows, strict=True):
        row |= {key: old[key] for key in MEASURED if key in old}
    return Results(results.meta | {"against_best": ADJUSTMENT}, rows, results.predictions, results.disagreements)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.restate", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, nargs="+", help="results directories")
    args = parser.parse_args(argv)
    for directory in args.results:
        restated(Results.load(directory)).write(directory, figure_writer())
        print(f"restated {directory}")


if __name__ == "__main__":
    main()
