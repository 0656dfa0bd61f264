"""Compare truncation and chunking strategies with every pooling on one model, from one set of chunk scores."""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from eval.cache import ChunkCache, text_digest
from eval.metrics import BUCKETS, PRIMARY, decisions, length_bucket, paired, per_review, task_metrics
from longbert import POOLINGS, Chunking, Chunks, LongbertError, LongTextClassifier, Task, chunk, parse_strategy
from longbert.chunking import Sentences, Strategy, Truncation
from longbert.runtime import describe_device, software_versions
from longbert.scoring import Scorer, StoppableScorer
from longbert.tasks import REGRESSION, SINGLE_LABEL, label_targets

BASELINE = "head 510"
TRUNCATIONS = ("head", "tail", "head+tail")


@dataclass(frozen=True)
class Entry:
    """One compared setting: a strategy and, for chunkings, a pooling."""

    strategy: Strategy
    pooling: str

    @property
    def key(self) -> str:
        if isinstance(self.strategy, Truncation):
            return self.strategy.name
        return f"{self.strategy.name} {self.pooling}"


def plan(chunkings: list[Chunking], poolings: list[str], truncations: list[str]) -> list[Entry]:
    """The baseline (head 510) first, the other truncations, then every chunking with every pooling."""
    strategies = [parse_strategy("head")] + [parse_strategy(t) for t in truncations if t != "head"]
    entries = [Entry(s, "mean") for s in strategies]
    entries += [Entry(c, p) for c in chunkings for p in poolings]
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise LongbertError("the grid names the same setting twice")
    return entries


def parse_grid(grid: str) -> list[Chunking]:
    """'510/510/1,510/255/1,sentences 510/510/1' -> chunkings (fixed windows or sentence-aware)."""
    chunkings = [parse_strategy(spec) for spec in grid.split(",") if spec.strip()]
    if not all(isinstance(c, Chunking) for c in chunkings):
        raise LongbertError("--grid takes chunkings as CHUNK/STRIDE/MINIMAL or 'sentences C/S/M', comma-separated")
    return chunkings


def settings_space(
    sizes: tuple[int, ...] = (64, 128, 256, 384, 510),
    strides: tuple[float, ...] = (1.0, 0.75, 0.5, 0.25),
    minimals: tuple[float, ...] = (0.0, 0.25, 0.5),
    sentences: bool = True,
) -> list[Chunking]:
    """The settings space the dashboard covers: every chunk size x stride (a share of the chunk) x minimal
    chunk size (a share; 0 means 1 token), and sentence-aware chunks without overlap at every size."""
    space = [
        Chunking(size, max(1, round(size * stride)), max(1, round(size * minimal)))
        for size in sizes
        for stride in strides
        for minimal in minimals
    ]
    space += [Sentences(size, size, 1) for size in sizes] if sentences else []
    return list(dict.fromkeys(space))


def time_strategies(scorer: Scorer, encoded, strategies: list[Strategy]) -> dict[str, float]:
    """Seconds each strategy's chunks of these reviews take to score on their own (no cache): its cost."""
    scorer(chunk(encoded[:16], strategies[0]))  # warm-up: first-call allocations and kernel choice
    seconds = {}
    for strategy in strategies:
        chunks = chunk(encoded, strategy)
        start = time.perf_counter()
        scorer(chunks)
        seconds[strategy.name] = time.perf_counter() - start
    return seconds


def fingerprint(classifier: LongTextClassifier, model: str) -> dict:
    """What a cached chunk's logits depend on besides its tokens: the model, markup cleaning and precision."""
    return {
        "model": str(model),
        "clean_markup": classifier.settings.clean_markup,
        "precision": classifier.precision_name,  # bf16 weights and fp32 both run without autocast
    }


def distinct_chunks(encoded, strategies: list[Strategy]) -> int:
    """How many different chunks the strategies cut from the reviews: the work an evaluation does."""
    return sum(len({w for s in strategies for w in s.windows(enc)}) for enc in encoded)


@dataclass
class CachedScorer:
    """A scorer that asks its inner scorer only for chunks the cache lacks; digests[i] names review i's text."""

    inner: Scorer
    cache: ChunkCache
    digests: list[int]
    scored: int = 0

    def __call__(self, chunks: Chunks, *, progress: bool = False) -> torch.Tensor:
        cut = chunks.keys()  # (review, window) pairs
        keys = [(self.digests[review], window) for review, window in cut]
        missing = [i for i, key in enumerate(keys) if not self.cache.has(key)]
        if missing:
            todo = Chunks([chunks.ids[i] for i in missing], [1] * len(missing), [[keys[i][1]] for i in missing])
            self.cache.add([keys[i] for i in missing], self.inner(todo, progress=progress).numpy())
            self.cache.save()
            self.scored += len(missing)
        return torch.from_numpy(self.cache.get_keys(keys))


def review_outputs(pooled: np.ndarray, task: Task) -> np.ndarray:
    """Pooled outputs [n, C] with reviews without tokens filled: probability 0.5 per label, 1/K per class,
    value 0 (none occurs in IMDB)."""
    fill = {SINGLE_LABEL: 1 / pooled.shape[1], REGRESSION: 0.0}.get(task.kind, 0.5)
    return np.nan_to_num(pooled, nan=fill)


def output_column(outputs: np.ndarray, task: Task) -> list | np.ndarray:
    """How a setting's outputs are stored in predictions.parquet: the positive-class probability for two
    classes, the value for one regression output, else a list per review."""
    if task.kind == SINGLE_LABEL and outputs.shape[1] == 2:
        return outputs[:, 1]
    if task.kind == REGRESSION and outputs.shape[1] == 1:
        return outputs[:, 0]
    return list(outputs)


def summarize(outputs: dict[str, np.ndarray], entries: list[Entry], targets, buckets, task: Task) -> list[dict]:
    """One row per setting: overall metrics, metrics per length bucket, and the paired comparison with head."""
    kind, threshold = task.kind, task.threshold
    baseline = per_review(kind, targets, outputs[BASELINE], threshold)
    rows = []
    for entry in entries:
        this = per_review(kind, targets, outputs[entry.key], threshold)
        row = {"setting": entry.key, "strategy": entry.strategy.name, "pooling": entry.pooling}
        row |= task_metrics(kind, targets, outputs[entry.key], threshold)
        row["buckets"] = {}
        for bucket in BUCKETS:
            mask = buckets == bucket
            metrics = task_metrics(kind, targets[mask], outputs[entry.key][mask], threshold)
            row["buckets"][bucket] = metrics | paired(kind, this[mask], baseline[mask])
        row |= paired(kind, this, baseline)
        rows.append(row)
    return rows


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


def disagreements(frame: pd.DataFrame, predictions: pd.DataFrame, outputs: dict, task: Task) -> pd.DataFrame:
    """Reviews on which the settings do not all give the same answer (class, label set or rounded value)."""
    votes = np.stack([decisions(task.kind, o, task.threshold) for o in outputs.values()], 1)
    split = (votes != votes[:, :1]).any(1)
    out = predictions[split].copy()
    out.insert(1, "text", frame["text"].to_numpy()[split])
    return out.reset_index(drop=True)


def evaluate(
    classifier: LongTextClassifier,
    frame: pd.DataFrame,
    *,
    model: str,
    chunkings: list[Chunking],
    poolings: list[str] = POOLINGS,
    truncations: list[str] = TRUNCATIONS,
    out_dir: str | Path | None = None,
    batch_tokens: int | None = None,
    progress: bool = True,
    meta: dict | None = None,
    max_chunks: int | None = None,
    max_settings: int | None = None,
    time_reviews: int | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """Score every setting on the reviews in `frame` (text, label); write the results if out_dir is given.

    max_chunks and max_settings refuse, before any scoring, runs that would score more distinct chunks or
    compare more settings (bounds for hosts: a thousand chunkings of ten reviews is minutes of summaries).
    time_reviews: also time each strategy alone on that many of the reviews (seconds per 1,000 reviews).
    stop: once set, scoring stops within one slice of chunks with longbert.Stopped (the chunks scored are kept).
    """
    task = classifier.task
    targets = label_targets(frame["label"], task.kind, task.labels)[2] if len(frame) else np.zeros(0)
    if task.kind == REGRESSION:
        targets = targets[:, 0]
    start = time.perf_counter()
    entries = plan(chunkings, list(poolings), list(truncations))
    if max_settings is not None and len(entries) > max_settings:
        raise LongbertError(
            f"these chunkings, poolings and truncations make {len(entries):,} settings; the limit here is "
            f"{max_settings:,}: take fewer chunkings or poolings"
        )
    strategies = list(dict.fromkeys(e.strategy for e in entries))
    for strategy in strategies:
        strategy.validate(classifier.max_chunk_size)
    texts = frame["text"].tolist()
    encoded = classifier.encode(texts, spans=False, strategies=strategies)
    out = Path(out_dir) if out_dir else None
    num_labels = classifier.model.config.num_labels
    cache = ChunkCache(out / "cache" if out else None, fingerprint(classifier, model), num_labels)
    if max_chunks is not None and (needed := distinct_chunks(encoded, strategies)) > max_chunks:
        raise LongbertError(
            f"these settings cut the {len(texts):,} reviews into {needed:,} chunks; the limit here is "
            f"{max_chunks:,}: take fewer reviews, larger strides or fewer chunkings"
        )
    model_scorer = classifier.scorer_with(batch_tokens)
    inner = StoppableScorer(model_scorer, stop) if stop is not None else model_scorer
    scorer = CachedScorer(inner, cache, [text_digest(t) for t in texts])
    scores = {}
    for strategy in tqdm(strategies, desc="strategies", disable=not progress):
        scores[strategy] = classifier.score(chunk(encoded, strategy), scorer, progress=progress)  # validated above
    num_tokens = np.array([len(e) for e in encoded])
    columns = {"review": np.arange(len(frame)), "label": frame["label"].to_numpy(), "num_tokens": num_tokens}
    if "review_id" in frame:
        columns["review_id"] = frame["review_id"].to_numpy()
    columns["bucket"] = length_bucket(num_tokens)
    outputs = {e.key: review_outputs(scores[e.strategy].pooled(e.pooling, task), task) for e in entries}
    chunk_counts = {s.name: int(sum(scores[s].chunks.counts)) for s in strategies}
    special = classifier.special.count
    token_counts = {s.name: int(scores[s].chunks.lengths.sum()) + special * chunk_counts[s.name] for s in strategies}
    timed = min(time_reviews or 0, len(encoded))
    seconds_alone = time_strategies(model_scorer, encoded[:timed], strategies) if timed else {}
    predictions = pd.DataFrame(columns | {key: output_column(o, task) for key, o in outputs.items()})
    rows = summarize(outputs, entries, targets, columns["bucket"], task)
    for row, entry in zip(rows, entries):
        row["chunks"] = chunk_counts[entry.strategy.name]
        row["tokens"] = token_counts[entry.strategy.name]
        if timed:
            row["seconds_per_1k"] = seconds_alone[entry.strategy.name] * 1000 / timed
    seconds = time.perf_counter() - start
    summary = {
        "meta": {
            "model": str(model),
            "reviews": len(frame),
            "settings": [e.key for e in entries],
            "baseline": BASELINE,
            "device": describe_device(classifier.device),
            "precision": classifier.precision_name,
            "seconds": seconds,
            "reviews_per_s": len(frame) / seconds if seconds > 0 else math.nan,
            "task": task.kind,
            "labels": list(task.labels),
            "threshold": task.threshold,
            "metric": PRIMARY[task.kind],
            "chunks_scored": scorer.scored,
            "timed_reviews": timed,
            "chunks_reused": cache.loaded,
            "distinct_chunks": len(cache),
            "versions": software_versions(),
            **(meta or {}),
        },
        "rows": rows,
    }
    if out is not None:
        write_results(out, summary, predictions, disagreements(frame, predictions, outputs, task))
    return summary | {"predictions": predictions}


STAGING, COMPLETE = ".writing", "COMPLETE"


def write_results(out: Path, summary: dict, predictions: pd.DataFrame, disagreeing: pd.DataFrame) -> None:
    """predictions.parquet, disagreements.parquet, summary.json, summary.csv and figures/*.json in out, as one set.

    Every file is written whole into out/.writing first, marked complete, then renamed into place: a run
    killed while writing leaves the previous set (or, once marked, the new one: load_results finishes the
    move). The figures are skipped where plotly is not installed (the GPU machine); the app draws them anyway.
    """
    staging = out / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    predictions.to_parquet(staging / "predictions.parquet", index=False)
    disagreeing.to_parquet(staging / "disagreements.parquet", index=False)
    (staging / "summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    flat_rows(summary["rows"], summary["meta"].get("metric", "accuracy")).to_csv(staging / "summary.csv", index=False)
    try:
        from eval import figures
    except ImportError:
        figures = None
    if figures is not None:
        figures.write_figures(summary | {"predictions": predictions}, staging)
    (staging / COMPLETE).touch()
    publish(out)


def publish(out: Path) -> None:
    """Move a completely written set from out/.writing into out, summary.json last; drop an incomplete one."""
    staging = out / STAGING
    if not (staging / COMPLETE).is_file():
        shutil.rmtree(staging, ignore_errors=True)
        return
    files = sorted(
        (p for p in staging.rglob("*") if p.is_file() and p.name != COMPLETE), key=lambda p: p.name == "summary.json"
    )
    for path in files:
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    shutil.rmtree(staging)


def load_results(directory: str | Path) -> dict:
    """A results directory back as {'meta', 'rows', 'predictions', 'disagreements'}."""
    directory = Path(directory)
    if (directory / STAGING).exists():
        publish(directory)  # a write stopped mid-way: finish it (or drop it) before reading
    summary = json.loads((directory / "summary.json").read_text())
    summary["predictions"] = pd.read_parquet(directory / "predictions.parquet")
    summary["disagreements"] = pd.read_parquet(directory / "disagreements.parquet")
    return summary
