"""The pool stage's arithmetic: per-chunk outputs of each text pooled into one answer, for every task type.

Every pooling starts from chunk logits, applies the task's activation (softmax over classes, a
sigmoid per label, or none for regression) and is differentiable (training pools inside the loss):
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

import torch
from torch.nn.utils.rnn import pad_sequence

from longbert.errors import LongbertError

POOLINGS = ("mean", "max", "logit_mean", "median", "weighted_mean")
ACTIVATIONS = {"softmax": lambda x: x.softmax(-1), "sigmoid": torch.sigmoid, "identity": lambda x: x}


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
