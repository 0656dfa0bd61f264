"""The dashboard's data, from results directories: every setting as a row, heatmap cells over chunk_size x stride,
the main metric by review length, cost against accuracy, and the paired comparison of any two settings (A/B)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from eval.metrics import BUCKETS, calibration, paired, task_metrics, wilson_interval
from eval.results import Results
from longbert.chunking import Chunking, Sentences, Truncation, parse_strategy

ALL = "all reviews"
LOWER_IS_BETTER = {"mae", "rmse", "log_loss", "brier", "hamming_loss"}


def share(part: int, whole: int) -> str:
    """A stride or minimal chunk size as a share of the chunk, to the 5%: 382 of 510 -> '75%'."""
    return f"{round(part / whole * 20) * 5}%"


def describe(strategy_name: str) -> dict:
    """A strategy's kind and parameters: kind chunk/sentences/truncation, chunk_size, stride, minimal and shares."""
    strategy = parse_strategy(strategy_name)
    if isinstance(strategy, Truncation):
        return {"kind": "truncation", "chunk_size": strategy.chunk_size, "stride": None, "minimal": None,
                "stride_share": None, "minimal_share": None}  # fmt: skip
    assert isinstance(strategy, Chunking)
    size = strategy.chunk_size
    minimal = "1 token" if strategy.minimal_chunk_size == 1 else share(strategy.minimal_chunk_size, size)
    return {
        "kind": "sentences" if isinstance(strategy, Sentences) else "chunk",
        "chunk_size": size,
        "stride": strategy.stride,
        "minimal": strategy.minimal_chunk_size,
        "stride_share": share(strategy.stride, size),
        "minimal_share": minimal,
    }


def settings_table(results: Results) -> pd.DataFrame:
    """One row per setting: its parameters, every metric overall and per length bucket (as 'METRIC BUCKET'), the
    comparison with the best (near_best: not distinguishable from it), and its cost per review (chunks, tokens)
    and per 1,000 reviews (seconds, where the run timed it)."""
    reviews = max(results.reviews, 1)
    records = []
    for row in results.rows:
        record = {"setting": row["setting"], "strategy": row["strategy"], "pooling": row["pooling"]}
        record |= describe(row["strategy"])
        record |= {k: v for k, v in row.items() if isinstance(v, int | float)}
        for bucket, metrics in row.get("buckets", {}).items():
            record |= {f"{k} {bucket}": v for k, v in metrics.items() if isinstance(v, int | float)}
        record["chunks_per_review"] = row.get("chunks", math.nan) / reviews
        record["tokens_per_review"] = row.get("tokens", math.nan) / reviews
        records.append(record)
    return pd.DataFrame(records)


def metric_column(metric: str, bucket: str = ALL) -> str:
    """The settings_table column of a metric overall or in a length bucket."""
    return metric if bucket == ALL else f"{metric} {bucket}"


def chunkings_of(table: pd.DataFrame, pooling: str, minimal_share: str) -> pd.DataFrame:
    """The fixed-window chunkings of a settings table under one pooling and minimal chunk size."""
    kind, same_pooling = table["kind"] == "chunk", table["pooling"] == pooling
    return table[kind & same_pooling & (table["minimal_share"] == minimal_share)]


def heatmap_cells(
    table: pd.DataFrame, metric: str, pooling: str, minimal_share: str, bucket: str = ALL
) -> pd.DataFrame:
    """The metric of fixed-window chunkings over stride share (rows, 100% first) x chunk_size (columns)."""
    chosen = chunkings_of(table, pooling, minimal_share)
    column = metric_column(metric, bucket)
    if chosen.empty or column not in chosen:
        return pd.DataFrame()
    cells = chosen.pivot_table(index="stride_share", columns="chunk_size", values=column, aggfunc="first")
    order = sorted(cells.index, key=lambda s: -int(s.rstrip("%")))
    return cells.loc[order]


def length_bins(num_tokens: np.ndarray, bins: int = 10) -> tuple[np.ndarray, list[str]]:
    """Each review's length bin (deciles of its token count) and the bins' names ('8-111', '112-148', ...)."""
    edges = np.unique(np.quantile(num_tokens, np.linspace(0, 1, bins + 1)).round())
    index = np.clip(np.searchsorted(edges, num_tokens, side="left") - 1, 0, len(edges) - 2)
    names = [f"{int(edges[i]) + (i > 0)}-{int(edges[i + 1])}" for i in range(len(edges) - 1)]
    return index, names


def by_length(results: Results, settings: list[str], bins: int = 10) -> pd.DataFrame:
    """The main metric of each setting per length decile, with a 95% interval where it is a proportion:
    columns setting, bin, name, n, value, low, high."""
    task, metric, targets = results.task, results.metric, results.targets
    index, names = length_bins(results.predictions["num_tokens"].to_numpy(), bins)
    rows = []
    for setting in settings:
        outputs = results.outputs(setting)
        right = task.per_review(targets, outputs)
        for b, name in enumerate(names):
            mask = index == b
            value = task_metrics(task, targets[mask], outputs[mask])[metric] if mask.any() else math.nan
            proportion = task.comparison == "correct"
            low, high = wilson_interval(int(right[mask].sum()), int(mask.sum())) if proportion else (None, None)
            rows.append({"setting": setting, "bin": b, "name": name, "n": int(mask.sum()), "value": value,
                         "low": low, "high": high})  # fmt: skip
    return pd.DataFrame(rows)


def reliability(results: Results, settings: list[str]) -> dict[str, dict]:
    """Each setting's reliability bins (eval.metrics.calibration) on its results set's reviews."""
    return {s: calibration(results.task, results.targets, results.outputs(s)) for s in settings}


def aligned(a: Results, b: Results) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the reviews two results sets share, in A's order: by (label, review_id), since IMDB's
    review ids repeat across labels (each split has a negative and a positive review 0, 1, ...)."""
    pa, pb = a.predictions, b.predictions
    if a is b:
        positions = np.arange(len(pa))
        return positions, positions
    if "review_id" not in pa or "review_id" not in pb:
        raise ValueError("these results sets do not name their reviews (no review_id), so they cannot be paired")
    key = ["label", "review_id"] if "label" in pa and "label" in pb else ["review_id"]
    where = pd.Series(np.arange(len(pb)), index=pd.MultiIndex.from_frame(pb[key]))
    ids = pd.MultiIndex.from_frame(pa[key])
    shared = ids.isin(where.index)
    return np.flatnonzero(shared), where.loc[ids[shared]].to_numpy()


def compare(a: Results, setting_a: str, b: Results, setting_b: str) -> dict:
    """A against B on the reviews both scored: each one's metric, the paired difference (95% interval, McNemar's
    p or Wilcoxon's for regression, wins and losses) overall and per length bucket, and the disagreeing reviews."""
    task, metric = a.task, a.metric
    if b.task.name != task.name:
        raise ValueError("A and B are results of different task types")
    rows_a, rows_b = aligned(a, b)
    if len(rows_a) == 0:
        raise ValueError("A and B share no reviews")
    targets = a.targets[rows_a]
    out_a, out_b = a.outputs(setting_a)[rows_a], b.outputs(setting_b)[rows_b]
    this, other = task.per_review(targets, out_a), task.per_review(targets, out_b)
    buckets = a.predictions["bucket"].to_numpy()[rows_a]
    result = {
        "n": len(rows_a),
        "metric": metric,
        "a": task_metrics(task, targets, out_a)[metric],
        "b": task_metrics(task, targets, out_b)[metric],
        "paired": paired(task, this, other),
        "buckets": [],
    }
    for bucket in BUCKETS:
        mask = buckets == bucket
        result["buckets"].append({"bucket": bucket, "n": int(mask.sum())} | paired(task, this[mask], other[mask]))
    differ = task.decisions(out_a) != task.decisions(out_b)
    frame = a.predictions.iloc[rows_a[differ]]
    columns = [c for c in ("review_id", "label", "num_tokens") if c in frame] or ["review", "label", "num_tokens"]
    table = frame[columns].reset_index(drop=True)
    table["A"] = out_a[differ][:, -1]
    table["B"] = out_b[differ][:, -1]
    if task.comparison == "errors":
        table["A closer"] = this[differ] < other[differ]
    else:
        table["A right"] = this[differ]
    result["disagreements"] = table
    return result
