"""A results set: one evaluation's summary, per-review outputs and disagreements, loaded, written and published whole.

A setting is named `STRATEGY` for a truncation ('head 510') and `STRATEGY POOLING` for a chunking ('chunk
510/510/1 mean', 'sentences 510/510/1 max'); setting_name and parse_setting are the one place that knows it.
On disk a set is predictions.parquet, disagreements.parquet, summary.json, summary.csv and figures/*.json,
written whole into DIR/.writing, marked complete, then moved into place with summary.json last.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from longbert.chunking import Strategy, Truncation, parse_strategy
from longbert.files import fresh_dir, move_files
from longbert.pooling import POOLINGS
from longbert.tasks import SINGLE_LABEL, Task, label_targets, task_type

BASELINE = "head 510"
STAGING, COMPLETE = ".writing", "COMPLETE"


def setting_name(strategy: Strategy, pooling: str) -> str:
    """A setting's name: the strategy's for a truncation (its one chunk needs no pooling), else strategy and pooling."""
    return strategy.name if isinstance(strategy, Truncation) else f"{strategy.name} {pooling}"


def parse_setting(name: str) -> tuple[Strategy, str]:
    """(strategy, pooling) of a setting's name; a truncation's pooling is mean."""
    strategy, _, pooling = name.rpartition(" ")
    if strategy and pooling in POOLINGS:
        return parse_strategy(strategy), pooling
    return parse_strategy(name), "mean"


def is_truncation(name: str) -> bool:
    """Whether a setting (or strategy) name is a truncation: head, tail or head+tail."""
    return isinstance(parse_setting(name)[0], Truncation)


@dataclass
class Results:
    """One results set: meta (model, reviews, task, metric, device, ...), a row of metrics per setting, each review's
    pooled outputs per setting (predictions) and the reviews the settings disagree on."""

    meta: dict
    rows: list[dict]
    predictions: pd.DataFrame
    disagreements: pd.DataFrame = field(default_factory=pd.DataFrame)

    @cached_property
    def task(self) -> Task:
        """The task the outputs belong to, with the labels and threshold the run used."""
        labels = tuple(self.meta.get("labels", ("0", "1")))
        return task_type(self.meta.get("task", SINGLE_LABEL))(labels, self.meta.get("threshold", 0.5))

    @property
    def metric(self) -> str:
        """The metric the settings are ranked by."""
        return self.meta.get("metric", self.task.metric)

    @property
    def baseline(self) -> str:
        return self.meta.get("baseline", BASELINE)

    @property
    def settings(self) -> list[str]:
        return [row["setting"] for row in self.rows]

    @property
    def reviews(self) -> int:
        return self.meta["reviews"]

    def outputs(self, setting: str) -> np.ndarray:
        """A setting's pooled outputs [n, C] as the metrics take them (Task.stored undone)."""
        column = self.predictions[setting]
        if column.dtype == object:
            return self.task.restored(np.stack(column.to_numpy()).astype(float))
        return self.task.restored(column.to_numpy(float)[:, None])

    @cached_property
    def targets(self) -> np.ndarray:
        """The reviews' targets as the metrics take them (class ids, multi-hot rows or values)."""
        labels = self.meta.get("labels", ("0", "1"))
        targets = label_targets(self.predictions["label"], self.task.name, labels)[2]
        return targets[:, 0] if self.task.values else targets

    def summary(self) -> dict:
        """What summary.json holds."""
        return {"meta": self.meta, "rows": self.rows}

    def write(self, out: str | Path, draw: Callable[[Results, Path], None] | None = None) -> None:
        """Write the set into out whole, with what draw(results, folder) adds (the figures): a run killed while
        writing leaves the previous set (or, once marked complete, the new one, which load finishes moving)."""
        out = Path(out)
        staging = fresh_dir(out / STAGING)
        self.predictions.to_parquet(staging / "predictions.parquet", index=False)
        self.disagreements.to_parquet(staging / "disagreements.parquet", index=False)
        (staging / "summary.json").write_text(json.dumps(self.summary(), indent=1, default=float) + "\n")
        flat_rows(self.rows, self.metric).to_csv(staging / "summary.csv", index=False)
        if draw is not None:
            draw(self, staging)
        (staging / COMPLETE).touch()
        publish(out)

    @classmethod
    def load(cls, directory: str | Path) -> Results:
        """A results directory (a write stopped mid-way is finished, or dropped, first)."""
        directory = Path(directory)
        if (directory / STAGING).exists():
            publish(directory)
        summary = json.loads((directory / "summary.json").read_text())
        return cls(
            summary["meta"],
            summary["rows"],
            pd.read_parquet(directory / "predictions.parquet"),
            pd.read_parquet(directory / "disagreements.parquet"),
        )


def load_results(directory: str | Path) -> Results:
    """A results directory as Results."""
    return Results.load(directory)


def publish(out: Path) -> None:
    """Move a completely written set from out/.writing into out, summary.json last; drop an incomplete one."""
    staging = out / STAGING
    if not (staging / COMPLETE).is_file():
        shutil.rmtree(staging, ignore_errors=True)
        return
    files = sorted(
        (p for p in staging.rglob("*") if p.is_file() and p.name != COMPLETE), key=lambda p: p.name == "summary.json"
    )
    move_files(staging, out, files)
    shutil.rmtree(staging)


def flat_rows(rows: list[dict], metric: str = "accuracy") -> pd.DataFrame:
    """The summary as one flat table (CSV): overall columns, then the main metric and n per bucket."""
    flat = []
    for row in rows:
        record = {k: v for k, v in row.items() if k not in ("buckets", "confusion", "roc_auc_per_label")}
        for bucket, metrics in row["buckets"].items():
            record[f"{metric} {bucket}"] = metrics[metric]
            record[f"n {bucket}"] = metrics["n"]
        flat.append(record)
    return pd.DataFrame(flat)
