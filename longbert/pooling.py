"""Pool per-chunk classifier outputs into one probability distribution per text.

All poolings start from chunk logits, are differentiable (training pools inside the loss), and
return probabilities that sum to 1:
- mean: mean of the chunk probabilities (the article's);
- max: for two classes, the largest positive-class (index 1) probability, negative = 1 - it
  (the article's); for more classes, each class's largest probability, renormalized;
- logit_mean: softmax of the mean of the chunk logits;
- median: each class's median probability (mean of the middle two for an even count), renormalized;
- weighted_mean: mean of the chunk probabilities weighted by chunk token counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.utils.rnn import pad_sequence

from longbert.errors import LongbertError

POOLINGS = ("mean", "max", "logit_mean", "median", "weighted_mean")


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
) -> torch.Tensor:
    """Pool logits [n_chunks, n_classes] of consecutive texts (counts[i] >= 1 chunks each) into [n_texts, n_classes]."""
    check_pooling(method)
    counts = [int(c) for c in counts]
    if any(c < 1 for c in counts) or sum(counts) != logits.shape[0]:
        raise LongbertError("pooling needs at least one chunk per text and counts that add up to the chunks")
    padded = pad_sequence(list(torch.split(logits.float(), counts)), batch_first=True)  # [T, K, C]
    count = torch.tensor(counts, device=logits.device)
    mask = (torch.arange(padded.shape[1], device=logits.device)[None, :] < count[:, None]).unsqueeze(-1)
    probs = padded.softmax(-1)
    if method == "mean":
        return (probs * mask).sum(1) / count[:, None]
    if method == "weighted_mean":
        if lengths is None:
            raise LongbertError("weighted_mean pooling needs the chunk lengths")
        weights = pad_sequence(list(torch.split(lengths.float().to(logits.device), counts)), batch_first=True)
        weights = weights.unsqueeze(-1) * mask
        return (probs * weights).sum(1) / weights.sum(1)
    if method == "logit_mean":
        return ((padded * mask).sum(1) / count[:, None]).softmax(-1)
    if method == "max":
        top = probs.masked_fill(~mask, -1.0).amax(1)
        if probs.shape[-1] == 2:
            return torch.stack([1 - top[:, 1], top[:, 1]], -1)
        return top / top.sum(-1, keepdim=True)
    ordered = probs.masked_fill(~mask, float("inf")).sort(1).values
    low = ((count - 1) // 2)[:, None, None].expand(-1, 1, probs.shape[-1])
    high = (count // 2)[:, None, None].expand(-1, 1, probs.shape[-1])
    median = (ordered.gather(1, low) + ordered.gather(1, high)).squeeze(1) / 2
    return median / median.sum(-1, keepdim=True)
