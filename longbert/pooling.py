"""The pool stage: each text's chunk scores pooled into one answer, with every chunk's own output kept.

ChunkScores holds the chunk logits of many texts; predictions() pools them and lets the task decide each
text's answer (a Prediction, with a ChunkResult per chunk). Every pooling starts from chunk logits, applies
the task's activation (softmax over classes, a sigmoid per label, or none for regression) and is
differentiable (training pools inside the loss):
- mean: mean of the chunk outputs (the article's);
- max: the largest chunk output per class or label; for two softmax classes the largest positive-class
  (index 1) probability, negative = 1 - it (the article's);
- logit_mean: the activation of the mean chunk logit (for regression: the mean);
- median: the median chunk output (mean of the middle two for an even count);
- weighted_mean: mean of the chunk outputs weighted by chunk token counts.
Softmax poolings are renormalized to sum to 1; sigmoid and regression outputs are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from longbert.chunking import Chunks, window_size
from longbert.encoding import Encoded
from longbert.errors import LongbertError
from longbert.tasks import ACTIVATIONS, Task

POOLINGS = ("mean", "max", "logit_mean", "median", "weighted_mean")
# What each pooling does to a two-class answer, in a line (the app shows it beside the verdict); {positive} and
# {negative} are the class names.
TWO_CLASS_POOLING = {
    "mean": "mean: the chunks' average P({positive}); every chunk counts alike.",
    "max": "max: the most {positive} chunk's P({positive}), so one {positive} chunk makes the text {positive}; "
    "P({negative}) is 1 minus that, not the largest P({negative}).",
    "logit_mean": "logit_mean: the softmax of the chunks' average logits; confident chunks count for more.",
    "median": "median: the middle chunk's P({positive}); a few outlying chunks change nothing.",
    "weighted_mean": "weighted_mean: the chunks' average weighted by their tokens; a short last chunk counts less.",
}


def check_pooling(method: str) -> str:
    """Return the pooling name, or raise LongbertError naming the valid ones."""
    if method not in POOLINGS:
        raise LongbertError(f"unknown pooling {method!r}: choose one of {', '.join(POOLINGS)}")
    return method


def pool(
    logits: torch.Tensor,
    counts: Sequence[int],
    method: str = "mean",
    lengths: torch.Tensor | None = None,
    activation: str = "softmax",
) -> torch.Tensor:
    """Pool logits [n_chunks, n_outputs] of consecutive texts (counts[i] >= 1 chunks each) into [n_texts, n_outputs]."""
    counts = [int(c) for c in counts]
    if any(c < 1 for c in counts) or sum(counts) != logits.shape[0]:
        raise LongbertError("pooling needs at least one chunk per text and counts that add up to the chunks")
    padded = pad_sequence(list(torch.split(logits.float(), counts)), batch_first=True)  # [T, K, C]
    count = torch.tensor(counts, device=logits.device)
    mask = (torch.arange(padded.shape[1], device=logits.device)[None, :] < count[:, None]).unsqueeze(-1)
    activate = ACTIVATIONS[activation]
    if method == "logit_mean":
        return activate((padded * mask).sum(1) / count[:, None])
    values = activate(padded)
    if method == "mean":
        return (values * mask).sum(1) / count[:, None]
    if method == "weighted_mean":
        if lengths is None:
            raise LongbertError("weighted_mean pooling needs the chunk lengths")
        weights = pad_sequence(list(torch.split(lengths.float().to(logits.device), counts)), batch_first=True)
        weights = weights.unsqueeze(-1) * mask
        return (values * weights).sum(1) / weights.sum(1)
    if method == "max":
        top = values.masked_fill(~mask, float("-inf")).amax(1)
        if activation != "softmax":
            return top
        if values.shape[-1] == 2:
            return torch.stack([1 - top[:, 1], top[:, 1]], -1)
        return top / top.sum(-1, keepdim=True)
    if method != "median":
        raise LongbertError(f"unknown pooling {method!r}: choose one of {', '.join(POOLINGS)}")
    ordered = values.masked_fill(~mask, float("inf")).sort(1).values
    low = ((count - 1) // 2)[:, None, None].expand(-1, 1, values.shape[-1])
    high = (count // 2)[:, None, None].expand(-1, 1, values.shape[-1])
    median = (ordered.gather(1, low) + ordered.gather(1, high)).squeeze(1) / 2
    return median / median.sum(-1, keepdim=True) if activation == "softmax" else median


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
    task: Task
    labels: tuple[str, ...] | None = None
    value: float | tuple[float, ...] | None = None

    def to_dict(self) -> dict:
        """A JSON-ready dict: the task's record of the answer (probabilities keyed by label name), counts and chunks."""
        return self.task.record(self) | {
            "num_tokens": self.num_tokens,
            "num_chunks": len(self.chunks),
            "chunks": [
                self.task.outputs_record(c.probabilities, c.value) | {"tokens": c.tokens, "span": list(c.span)}
                for c in self.chunks
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
            out[has] = pool(self.logits, counts[has].tolist(), method, lengths, task.activation).double().numpy()
        return out


def predictions(scores: ChunkScores, encoded: Sequence[Encoded], task: Task, method: str) -> list[Prediction]:
    """Each text's Prediction: the pooled answer decided by the task, and every chunk's output and spans.

    Spans are looked up only where the texts were encoded with them.
    """
    pooled = scores.pooled(method, task)
    outputs = task.activate(scores.logits).double().numpy()
    results, first = [], 0
    for row, (enc, windows) in enumerate(zip(encoded, scores.chunks.windows)):
        chunks = tuple(
            ChunkResult(
                tokens=window_size(w),
                spans=tuple(enc.span(s, e) for s, e in w) if enc.pieces is not None else (),
                **task.chunk_output(outputs[first + k].tolist()),
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
                task,
                answer.get("labels"),
                answer.get("value"),
            )
        )
    return results
