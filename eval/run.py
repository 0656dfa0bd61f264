"""Compare truncation and chunking strategies with every pooling on one model, from one set of chunk scores."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from eval.cache import ChunkCache
from eval.metrics import BUCKETS, binary_metrics, length_bucket, paired_comparison
from longbert import POOLINGS, Chunking, ChunkScores, LongbertError, LongTextClassifier, parse_strategy
from longbert.chunking import Strategy, Truncation, window_size
from longbert.classifier import window_ids
from longbert.runtime import describe_device, software_versions

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
    """'510/510/1,510/255/1' -> chunkings."""
    chunkings = [parse_strategy(spec) for spec in grid.split(",") if spec.strip()]
    if not all(isinstance(c, Chunking) for c in chunkings):
        raise LongbertError("--grid takes chunkings as CHUNK/STRIDE/MINIMAL, comma-separated")
    return chunkings


def fingerprint(classifier: LongTextClassifier, model: str, texts: list[str]) -> dict:
    digest = hashlib.sha1()
    for text in texts:
        digest.update(hashlib.sha1(text.encode()).digest())
    return {
        "model": str(model),
        "texts": digest.hexdigest(),
        "clean_markup": classifier.settings.clean_markup,
        "precision": classifier.precision_name,  # bf16 weights and fp32 both run without autocast
    }


def distinct_chunks(encoded, strategies: list[Strategy]) -> int:
    """How many different chunks the strategies cut from the reviews: the work an evaluation does."""
    return sum(len({w for s in strategies for w in s.windows(len(enc))}) for enc in encoded)


def score_all(classifier, encoded, strategies, cache: ChunkCache, batch_tokens, progress) -> int:
    """Score every distinct chunk of every (already validated) strategy not in the cache; returns how many."""
    scored = 0
    for strategy in tqdm(strategies, desc="strategies", disable=not progress):
        keys, chunks = [], []
        for review, enc in enumerate(encoded):
            for window in cache.missing(review, strategy.windows(len(enc))):
                keys.append((review, window))
                chunks.append(window_ids(enc, window))
        if chunks:
            logits = classifier.score_chunks(chunks, batch_tokens=batch_tokens, progress=progress)
            cache.add(keys, logits.numpy())
            cache.save()
            scored += len(chunks)
    return scored


def cached_scores(strategy: Strategy, encoded, cache: ChunkCache) -> ChunkScores:
    """One strategy's chunk logits for every review, read from the cache: what each pooling derives from."""
    windows = [strategy.windows(len(e)) for e in encoded]
    num_labels = cache.logits.shape[1]
    logits = [cache.get(r, w) for r, w in enumerate(windows) if w] or [np.zeros((0, num_labels), np.float32)]
    lengths = torch.tensor([window_size(x) for ws in windows for x in ws], dtype=torch.float32)
    return ChunkScores(torch.from_numpy(np.concatenate(logits)), [len(w) for w in windows], lengths, windows)


def pooled_positive(scores: ChunkScores, pooling: str) -> np.ndarray:
    """Positive-class probability per review under one pooling; 0.5 for a review without tokens."""
    return np.nan_to_num(scores.pooled(pooling)[:, 1], nan=0.5)


def summarize(predictions: pd.DataFrame, entries: list[Entry]) -> list[dict]:
    """One row per setting: overall metrics, metrics per length bucket, and the paired comparison with head."""
    labels = predictions["label"].to_numpy()
    baseline = predictions[BASELINE].to_numpy()
    rows = []
    for entry in entries:
        positive = predictions[entry.key].to_numpy()
        row = {"setting": entry.key, "strategy": entry.strategy.name, "pooling": entry.pooling}
        row |= binary_metrics(labels, positive)
        row["buckets"] = {}
        for bucket in BUCKETS:
            mask = predictions["bucket"].to_numpy() == bucket
            metrics = binary_metrics(labels[mask], positive[mask])
            metrics |= paired_comparison(labels[mask], positive[mask], baseline[mask])
            row["buckets"][bucket] = metrics
        row |= paired_comparison(labels, positive, baseline)
        rows.append(row)
    return rows


def flat_rows(rows: list[dict]) -> pd.DataFrame:
    """The summary as one flat table (CSV): overall columns, then accuracy and n per bucket."""
    flat = []
    for row in rows:
        record = {k: v for k, v in row.items() if k not in ("buckets", "confusion")}
        for bucket, metrics in row["buckets"].items():
            record[f"accuracy {bucket}"] = metrics["accuracy"]
            record[f"n {bucket}"] = metrics["n"]
        flat.append(record)
    return pd.DataFrame(flat)


def disagreements(frame: pd.DataFrame, predictions: pd.DataFrame, entries: list[Entry]) -> pd.DataFrame:
    """Reviews on which the settings do not all predict the same label, with their text."""
    keys = [e.key for e in entries]
    votes = predictions[keys].to_numpy() >= 0.5
    split = votes.any(1) & ~votes.all(1)
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
) -> dict:
    """Score every setting on the reviews in `frame` (text, label); write the results if out_dir is given.

    max_chunks refuses, before any scoring, settings that would score more distinct chunks (a bound for hosts).
    """
    if classifier.model.config.num_labels != 2:
        raise LongbertError("the evaluation compares binary classifiers (two labels)")
    start = time.perf_counter()
    entries = plan(chunkings, list(poolings), list(truncations))
    texts = frame["text"].tolist()
    encoded = classifier.encode(texts, spans=False)
    out = Path(out_dir) if out_dir else None
    cache_path = out / "cache" / "chunks.npz" if out else None
    cache = ChunkCache(cache_path, fingerprint(classifier, model, texts), classifier.model.config.num_labels)
    strategies = list(dict.fromkeys(e.strategy for e in entries))
    for strategy in strategies:
        strategy.validate(classifier.max_chunk_size)
    if max_chunks is not None and (needed := distinct_chunks(encoded, strategies)) > max_chunks:
        raise LongbertError(
            f"these settings cut the {len(texts):,} reviews into {needed:,} chunks; the limit here is "
            f"{max_chunks:,}: take fewer reviews, larger strides or fewer chunkings"
        )
    scored = score_all(classifier, encoded, strategies, cache, batch_tokens, progress)
    num_tokens = np.array([len(e) for e in encoded])
    predictions = pd.DataFrame(
        {"review": np.arange(len(frame)), "label": frame["label"].to_numpy(), "num_tokens": num_tokens}
    )
    if "review_id" in frame:
        predictions.insert(1, "review_id", frame["review_id"].to_numpy())
    predictions["bucket"] = length_bucket(num_tokens)
    scores = {strategy: cached_scores(strategy, encoded, cache) for strategy in strategies}
    for entry in entries:
        predictions[entry.key] = pooled_positive(scores[entry.strategy], entry.pooling)
    rows = summarize(predictions, entries)
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
            "chunks_scored": scored,
            "chunks_reused": cache.loaded,
            "distinct_chunks": len(cache),
            "versions": software_versions(),
            **(meta or {}),
        },
        "rows": rows,
    }
    if out is not None:
        write_results(out, summary, predictions, disagreements(frame, predictions, entries))
    return summary | {"predictions": predictions}


def write_results(out: Path, summary: dict, predictions: pd.DataFrame, disagreeing: pd.DataFrame) -> None:
    """predictions.parquet, disagreements.parquet, summary.json, summary.csv and figures/*.json in out.

    The figures are skipped where plotly is not installed (the GPU machine); the app draws them anyway.
    """
    out.mkdir(parents=True, exist_ok=True)
    predictions.to_parquet(out / "predictions.parquet", index=False)
    disagreeing.to_parquet(out / "disagreements.parquet", index=False)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    flat_rows(summary["rows"]).to_csv(out / "summary.csv", index=False)
    try:
        from eval import figures
    except ImportError:
        return
    figures.write_figures(summary, out)


def load_results(directory: str | Path) -> dict:
    """A results directory back as {'meta', 'rows', 'predictions', 'disagreements'}."""
    directory = Path(directory)
    summary = json.loads((directory / "summary.json").read_text())
    summary["predictions"] = pd.read_parquet(directory / "predictions.parquet")
    summary["disagreements"] = pd.read_parquet(directory / "disagreements.parquet")
    return summary
