"""The pool stage: chunk scores pooled into per-text predictions, with every chunk's own output kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from longbert.chunking import Chunks, window_size
from longbert.encoding import Encoded
from longbert.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task, as_value


@dataclass(frozen=True)
class ChunkResult:
    """One chunk of a text: its output (class or label probabilities, or a value), token count and character spans."""

    probabilities: tuple[float, ...] | None
    tokens: int
    spans: tuple[tuple[int, int], ...]
    value: float | tuple[float, ...] | None = None

    @property
    def span(self) -> tuple[int, int]:
        """First to last character the chunk covers."""
        return self.spans[0][0], self.spans[-1][1]


@dataclass(frozen=True)
class Prediction:
    """A text's pooled answer: label (single-label), labels (multi-label) or value (regression).

    An empty or whitespace-only text has no tokens: its answer fields are None.
    """

    label: str | None
    probabilities: tuple[float, ...] | None
    chunks: tuple[ChunkResult, ...]
    num_tokens: int
    task: str = SINGLE_LABEL
    labels: tuple[str, ...] | None = None
    value: float | tuple[float, ...] | None = None

    def to_dict(self, labels: Sequence[str]) -> dict:
        """A JSON-ready dict: probabilities keyed by label name; "labels" for multi-label, "value" for regression."""

        def outputs(probabilities, value) -> dict:
            if self.task == REGRESSION:
                return {"value": value}
            return {"probabilities": None if probabilities is None else dict(zip(labels, probabilities))}

        answer = {REGRESSION: {}, MULTI_LABEL: {"labels": None if self.labels is None else list(self.labels)}}
        record = answer.get(self.task, {"label": self.label}) | outputs(self.probabilities, self.value)
        return record | {
            "num_tokens": self.num_tokens,
            "num_chunks": len(self.chunks),
            "chunks": [
                outputs(c.probabilities, c.value) | {"tokens": c.tokens, "span": list(c.span)} for c in self.chunks
            ],
        }


@dataclass(frozen=True)
class ChunkScores:
    """Chunk logits of many texts under one strategy: what every pooling is computed from."""

    chunks: Chunks
    logits: torch.Tensor

    def pooled(self, method: str, task: Task) -> np.ndarray:
        """Pooled outputs [n_texts, n_outputs]; rows of texts without chunks are NaN."""
        counts = np.asarray(self.chunks.counts)
        out = np.full((len(counts), self.logits.shape[1]), np.nan, dtype=np.float64)
        has = counts > 0
        if has.any():
            lengths = torch.from_numpy(self.chunks.lengths).float()
            out[has] = task.pool(self.logits, counts[has].tolist(), method, lengths).double().numpy()
        return out


def predictions(scores: ChunkScores, encoded: Sequence[Encoded], task: Task, method: str) -> list[Prediction]:
    """Each text's Prediction: the pooled answer decided by the task, and every chunk's output and spans.

    Spans are looked up only where the texts were encoded with them.
    """
    pooled = scores.pooled(method, task)
    outputs = task.activate(scores.logits).double().numpy()
    regression = task.kind == REGRESSION
    results, first = [], 0
    for row, (enc, windows) in enumerate(zip(encoded, scores.chunks.windows)):
        chunks = tuple(
            ChunkResult(
                None if regression else tuple(outputs[first + k].tolist()),
                window_size(w),
                tuple(enc.span(s, e) for s, e in w) if enc.pieces is not None else (),
                as_value(outputs[first + k]) if regression else None,
            )
            for k, w in enumerate(windows)
        )
        first += len(windows)
        answer = task.decide(pooled[row]) if windows else {}
        results.append(
            Prediction(
                answer.get("label"),
                answer.get("probabilities"),
                chunks,
                len(enc),
                task.kind,
                answer.get("labels"),
                answer.get("value"),
            )
        )
    return results
