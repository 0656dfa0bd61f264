"""Compare truncation and chunking strategies with every pooling on one model, from one set of chunk scores."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from eval.cache import ChunkCache, text_digest
from eval.metrics import ADJUSTMENT, BUCKETS, against_best, length_bucket, paired, task_metrics
from eval.results import BASELINE, Results, setting_name
from longbert import POOLINGS, Chunking, Chunks, LongbertError, LongTextClassifier, Task, chunk, parse_strategy
from longbert.chunking import Sentences, Strategy, window_size
from longbert.digests import weights_digest
from longbert.errors import Stopped
from longbert.runtime import describe_device, software_versions
from longbert.scoring import Meter, Scorer, tokens_scored
from longbert.tasks import label_targets

TRUNCATIONS = ("head", "tail", "head+tail")


class TooCostly(LongbertError):
    """A run that would score more tokens than its bound allows: refused before any scoring."""

    def __init__(self, tokens: int, limit: int):
        self.tokens, self.limit = tokens, limit
        super().__init__(f"these settings would score {tokens:,} tokens; the limit here is {limit:,}: take fewer "
                         "reviews, larger strides or fewer chunkings")  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One compared setting: a strategy and, for chunkings, a pooling."""

    strategy: Strategy
    pooling: str

    @property
    def key(self) -> str:
        return setting_name(self.strategy, self.pooling)


def plan(
    chunkings: list[Chunking], poolings: list[str], truncations: list[str], max_settings: int | None = None
) -> list[Entry]:
    """The baseline (head 510) first, the other truncations, then every chunking with every pooling; more than
    max_settings settings are refused."""
    strategies = [parse_strategy("head")] + [parse_strategy(t) for t in truncations if t != "head"]
    entries = [Entry(s, "mean") for s in strategies]
    entries += [Entry(c, p) for c in chunkings for p in poolings]
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise LongbertError("the grid names the same setting twice")
    if max_settings is not None and len(entries) > max_settings:
        raise LongbertError(
            f"these chunkings, poolings and truncations make {len(entries):,} settings; the limit here is "
            f"{max_settings:,}: take fewer chunkings or poolings"
        )
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


def fingerprint(classifier: LongTextClassifier) -> dict:
    """What a cached chunk's logits depend on besides its tokens: the model's weights (by content: a model retrained
    in place is another model), markup cleaning and precision."""
    return {
        "weights": weights_digest(classifier.model),
        "clean_markup": classifier.settings.clean_markup,
        "precision": classifier.precision_name,  # bf16 weights and fp32 both run without autocast
    }


def planned_tokens(encoded, strategies: list[Strategy], special: int) -> int:
    """The tokens of the different chunks the strategies cut from the reviews (with each chunk's special tokens):
    the work an evaluation does, since each distinct chunk is scored once."""
    return sum(window_size(w) + special for enc in encoded for w in {w for s in strategies for w in s.windows(enc)})


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
        first: dict = {}  # each missing chunk once, though several strategies (or reviews) cut it
        for i, key in enumerate(keys):
            if key not in first and not self.cache.has(key):
                first[key] = i
        missing = list(first.values())
        if missing:
            todo = Chunks([chunks.ids[i] for i in missing], [1] * len(missing), [[keys[i][1]] for i in missing])
            self.cache.add([keys[i] for i in missing], self.inner(todo, progress=progress).numpy())
            self.cache.save()
            self.scored += len(missing)
        return torch.from_numpy(self.cache.get_keys(keys))


def summarize(outputs: dict[str, np.ndarray], entries: list[Entry], targets, buckets, task: Task) -> list[dict]:
    """One row per setting: overall metrics, metrics per length bucket, the paired comparison with head and the
    comparison with the best setting (Holm-adjusted), overall and in each bucket."""
    baseline = task.per_review(targets, outputs[BASELINE])
    per_review = {e.key: task.per_review(targets, outputs[e.key]) for e in entries}
    lower = not task.higher_is_better
    rows = []
    for entry in entries:
        this = per_review[entry.key]
        row = {"setting": entry.key, "strategy": entry.strategy.name, "pooling": entry.pooling}
        row |= task_metrics(task, targets, outputs[entry.key])
        row["buckets"] = {}
        for bucket in BUCKETS:
            mask = buckets == bucket
            metrics = task_metrics(task, targets[mask], outputs[entry.key][mask])
            row["buckets"][bucket] = metrics | paired(task, this[mask], baseline[mask])
        row |= paired(task, this, baseline)
        rows.append(row)
    metric = task.metric
    best = against_best(task, {r["setting"]: r[metric] for r in rows}, per_review, lower)
    for bucket in BUCKETS:
        mask = buckets == bucket
        in_bucket = against_best(task, {r["setting"]: r["buckets"][bucket][metric] for r in rows},
                                 {k: v[mask] for k, v in per_review.items()}, lower)  # fmt: skip
        for row in rows:
            row["buckets"][bucket] |= in_bucket.get(row["setting"], {})
    for row in rows:
        row |= best.get(row["setting"], {})
    return rows


def disagreements(frame: pd.DataFrame, predictions: pd.DataFrame, outputs: dict, task: Task) -> pd.DataFrame:
    """Reviews on which the settings do not all give the same answer (class, label set or rounded value)."""
    votes = np.stack([task.decisions(o) for o in outputs.values()], 1)
    split = (votes != votes[:, :1]).any(1)
    out = predictions[split].copy()
    out.insert(1, "text", frame["text"].to_numpy()[split])
    return out.reset_index(drop=True)


def review_columns(frame: pd.DataFrame, encoded) -> dict:
    """predictions.parquet's columns about each review: its position, label, token count, id and length bucket."""
    num_tokens = np.array([len(e) for e in encoded])
    columns = {"review": np.arange(len(frame)), "label": frame["label"].to_numpy(), "num_tokens": num_tokens}
    if "review_id" in frame:
        columns["review_id"] = frame["review_id"].to_numpy()
    return columns | {"bucket": length_bucket(num_tokens)}


def score_in_blocks(encoded, strategies: list[Strategy], scorer_for: Callable[[int, int], Scorer], block: int) -> int:
    """Score the reviews `block` at a time, every strategy's chunks of a block in one call (scorer_for(first review,
    reviews) scores them); returns how many reviews were scored whole: all, or those before a Stop."""
    for first in range(0, len(encoded), block):
        part = encoded[first : first + block]
        try:
            scorer_for(first, len(part))(Chunks.joined([chunk(part, s) for s in strategies]))
        except Stopped:
            if first == 0:
                raise
            return first
    return len(encoded)


def review_targets(frame: pd.DataFrame, task: Task) -> np.ndarray:
    """The reviews' labels as the task's metrics take them (class ids, multi-hot rows or values)."""
    targets = label_targets(frame["label"], task.name, task.labels)[2] if len(frame) else np.zeros(0)
    return targets[:, 0] if task.values else targets


def run_meta(classifier: LongTextClassifier, model: str, reviews: int, settings: list[str], seconds: float) -> dict:
    """What a results set says of its run: model, reviews, settings, device, precision, time and task."""
    task = classifier.task
    return {
        "model": str(model),
        "reviews": reviews,
        "settings": settings,
        "baseline": BASELINE,
        "device": describe_device(classifier.device),
        "precision": classifier.precision_name,
        "engine": classifier.engine,
        "seconds": seconds,
        "reviews_per_s": reviews / seconds if seconds > 0 else math.nan,
        "task": task.name,
        "labels": list(task.labels),
        "threshold": task.threshold,
        "metric": task.metric,
        "against_best": ADJUSTMENT,
    }


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
    max_tokens: int | None = None,
    max_settings: int | None = None,
    time_reviews: int | None = None,
    meter: Meter | None = None,
    block_reviews: int | None = None,
) -> Results:
    """Score every setting on the reviews in `frame` (text, label); write the results if out_dir is given.

    max_tokens and max_settings refuse, before any scoring, runs that would score more tokens (the distinct
    chunks' tokens: the model's work) or compare more settings (a thousand chunkings of ten reviews is minutes of
    summaries). time_reviews: also time each strategy alone on that many reviews (seconds per 1,000 reviews).
    meter: told the tokens planned, advanced as they are scored; once its stop is set, scoring stops within one
    batch. block_reviews: score that many reviews at a time, so a stopped run still has whole reviews: its results
    then cover those (meta "partial"); a run stopped before any is whole raises longbert.Stopped.
    """
    start = time.perf_counter()
    entries = plan(chunkings, list(poolings), list(truncations), max_settings)
    strategies = list(dict.fromkeys(e.strategy for e in entries))
    for strategy in strategies:
        strategy.validate(classifier.max_chunk_size)
    texts = frame["text"].tolist()
    encoded = classifier.encode(texts, spans=False, strategies=strategies)
    out = Path(out_dir) if out_dir else None
    num_labels = classifier.model.config.num_labels
    cache = ChunkCache(out / "cache" if out else None, fingerprint(classifier), num_labels)
    planned = planned_tokens(encoded, strategies, classifier.special.count)
    if max_tokens is not None and planned > max_tokens:
        raise TooCostly(planned, max_tokens)
    if meter is not None:
        meter.planned = planned
    model_scorer = classifier.scorer_with(batch_tokens, meter=meter)
    digests = [text_digest(t) for t in texts]
    reviews = len(frame)
    if block_reviews:

        def scorer_for(first: int, n: int) -> Scorer:
            return CachedScorer(model_scorer, cache, digests[first : first + n] * len(strategies))

        reviews = score_in_blocks(encoded, strategies, scorer_for, block_reviews)
    partial = {"reviews_scored": reviews, "reviews_planned": len(frame)} if reviews < len(frame) else {}
    frame, encoded = frame.iloc[:reviews], encoded[:reviews]
    task = classifier.task
    targets = review_targets(frame, task)
    scorer = CachedScorer(model_scorer, cache, digests[:reviews])
    scores = {}
    for strategy in tqdm(strategies, desc="strategies", disable=not progress):
        scores[strategy] = classifier.score(chunk(encoded, strategy), scorer, progress=progress)  # validated above
    columns = review_columns(frame, encoded)
    outputs = {e.key: task.filled(scores[e.strategy].pooled(e.pooling, task)) for e in entries}
    timed = min(time_reviews or 0, len(encoded))
    seconds_alone = time_strategies(model_scorer, encoded[:timed], strategies) if timed else {}
    predictions = pd.DataFrame(columns | {key: task.stored(o) for key, o in outputs.items()})
    rows = summarize(outputs, entries, targets, columns["bucket"], task)
    for row, entry in zip(rows, entries):
        chunks = scores[entry.strategy].chunks
        row |= {"chunks": len(chunks), "tokens": tokens_scored(chunks, classifier.special)}
        if timed:
            row["seconds_per_1k"] = seconds_alone[entry.strategy.name] * 1000 / timed
    seconds = time.perf_counter() - start
    about = run_meta(classifier, model, len(frame), [e.key for e in entries], seconds)
    about |= {"chunks_scored": len(cache) - cache.loaded, "timed_reviews": timed, "chunks_reused": cache.loaded,
              "distinct_chunks": len(cache), "versions": software_versions(), **(meta or {})}  # fmt: skip
    if partial:
        about["partial"] = partial
    results = Results(about, rows, predictions, disagreements(frame, predictions, outputs, task))
    if out is not None:
        results.write(out, figure_writer())
    return results


def figure_writer() -> Callable | None:
    """eval.figures.write_figures, or None where plotly is not installed (the GPU machine; the app draws anyway)."""
    try:
        from eval.figures import write_figures
    except ImportError:
        return None
    return write_figures
