"""The score stage: run chunks through a sequence-classification model in length-sorted, token-budgeted batches.

Chunks of all texts are sorted by length and cut into batches whose padded size stays under a
token budget, so memory is bounded whatever the texts' lengths and padding is minimal. A Scorer
is anything that maps Chunks to raw outputs (logits) [n_chunks, n_outputs]: ModelScorer runs a
torch model, ArrayScorer a compiled one (ONNX Runtime, OpenVINO); the evaluation's cache and the
benchmark's variants are scorers too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from longbert.chunking import Chunks
from longbert.encoding import SpecialTokens
from longbert.errors import Stopped
from longbert.runtime import Runtime


def token_budget_batches(lengths: Sequence[int], batch_tokens: int) -> Iterator[np.ndarray]:
    """Yield index arrays of chunks, longest first, each batch's padded size (count x longest) <= batch_tokens."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    start = 0
    while start < len(order):
        longest = int(lengths[order[start]])
        size = max(1, batch_tokens // max(longest, 1))
        yield order[start : start + size]
        start += size


def padded_width(length: int, pad_to: int | None = None, pad_multiple: int = 1) -> int:
    """Width of a row of `length` tokens: at least pad_to, rounded up to a multiple of pad_multiple."""
    width = length if pad_to is None else max(length, pad_to)
    return -(-width // pad_multiple) * pad_multiple


def collate(
    chunks: Sequence[np.ndarray], special: SpecialTokens, pad_to: int | None = None, pad_multiple: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """input_ids and attention_mask for content-token chunks, with special tokens, padded on the right."""
    width = padded_width(max(len(c) for c in chunks) + special.count, pad_to, pad_multiple)
    ids = np.full((len(chunks), width), special.pad_id, dtype=np.int64)
    mask = np.zeros((len(chunks), width), dtype=np.int64)
    prefix, suffix = np.asarray(special.prefix, np.int64), np.asarray(special.suffix, np.int64)
    p = len(prefix)
    for row, chunk in enumerate(chunks):
        n = len(chunk)
        ids[row, :p] = prefix
        ids[row, p : p + n] = chunk
        ids[row, p + n : p + n + len(suffix)] = suffix
        mask[row, : p + n + len(suffix)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


@dataclass
class Meter:
    """The tokens a run plans to score and has scored, and its stop flag: a scorer given a Meter advances it after
    every batch, which raises Stopped once stop is set, so a Stop takes effect within one token-budgeted batch.
    pause, if given, is called between batches (a server holds a long run there while short requests go first)."""

    planned: int = 0
    done: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    pause: Callable[[], None] | None = None

    def check(self) -> None:
        if self.pause is not None:
            self.pause()
        if self.stop.is_set():
            raise Stopped("stopped")

    def advance(self, tokens: int) -> None:
        self.done += tokens
        self.check()


def tokens_scored(chunks: Chunks, special: SpecialTokens) -> int:
    """What scoring chunks costs: their content tokens and each chunk's special tokens (padding aside)."""
    return int(chunks.lengths.sum()) + special.count * len(chunks)


def padded_batches(
    chunks: Sequence[np.ndarray],
    special: SpecialTokens,
    runtime: Runtime,
    *,
    pad_to: int | None = None,
    progress: bool = False,
    meter: Meter | None = None,
) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
    """(chunk indices, input_ids, attention_mask) of each length-sorted, token-budgeted batch: what every scorer
    that runs a model (torch or ONNX Runtime) feeds it, with a progress bar over the chunks; a meter is checked
    before the first batch and advanced after each."""
    lengths = [padded_width(len(c) + special.count, pad_to, runtime.pad_multiple) for c in chunks]
    bar = tqdm(total=len(chunks), desc="chunks", unit="chunk", disable=not progress, leave=False)
    if meter is not None:
        meter.check()
    for index in token_budget_batches(lengths, runtime.batch_tokens):
        ids, mask = collate([chunks[i] for i in index], special, pad_to, runtime.pad_multiple)
        yield index, ids, mask
        bar.update(len(index))
        if meter is not None:
            meter.advance(sum(len(chunks[i]) + special.count for i in index))
    bar.close()


def score_chunks(
    model: torch.nn.Module,
    chunks: Sequence[np.ndarray],
    special: SpecialTokens,
    runtime: Runtime,
    *,
    pad_to: int | None = None,
    progress: bool = False,
    meter: Meter | None = None,
) -> torch.Tensor:
    """Logits [n_chunks, n_outputs] (float32, on the CPU) for content-token chunks, in the order given."""
    device, dtype = runtime.device, runtime.autocast
    num_labels = model.config.num_labels
    if not chunks:
        return torch.zeros((0, num_labels))
    out = torch.empty((len(chunks), num_labels), dtype=torch.float32, device=device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        batches = padded_batches(chunks, special, runtime, pad_to=pad_to, progress=progress, meter=meter)
        for index, ids, mask in batches:
            if device.type == "cuda":
                ids, mask = ids.pin_memory(), mask.pin_memory()
            logits = model(
                input_ids=ids.to(device, non_blocking=True), attention_mask=mask.to(device, non_blocking=True)
            ).logits
            out[torch.from_numpy(index).to(device)] = logits.float()
    return out.cpu()


class Scorer(Protocol):
    """The score stage's interface: raw outputs [len(chunks), n_outputs] (float32, CPU) for Chunks."""

    def __call__(self, chunks: Chunks, *, progress: bool = False) -> torch.Tensor: ...


@dataclass(frozen=True)
class ModelScorer:
    """Scores chunks with a model under a runtime; pad_to fixes every width (the article's padding to 512); a meter
    counts the tokens scored and stops the scoring between batches."""

    model: torch.nn.Module
    special: SpecialTokens
    runtime: Runtime
    pad_to: int | None = None
    meter: Meter | None = None

    def __call__(self, chunks: Chunks, *, progress: bool = False) -> torch.Tensor:
        return score_chunks(self.model, chunks.ids, self.special, self.runtime, pad_to=self.pad_to, progress=progress,
                            meter=self.meter)  # fmt: skip


@dataclass(frozen=True)
class ArrayScorer:
    """Scores chunks with a compiled model, run(input_ids, attention_mask) -> logits on numpy arrays (ONNX Runtime,
    OpenVINO), in the same length-sorted, token-budgeted batches as ModelScorer."""

    run: Callable[[np.ndarray, np.ndarray], np.ndarray]
    special: SpecialTokens
    runtime: Runtime
    num_labels: int
    pad_to: int | None = None
    meter: Meter | None = None

    def __call__(self, chunks: Chunks, *, progress: bool = False) -> torch.Tensor:
        out = np.zeros((len(chunks), self.num_labels), dtype=np.float32)
        batches = padded_batches(chunks.ids, self.special, self.runtime, pad_to=self.pad_to, progress=progress,
                                 meter=self.meter)  # fmt: skip
        for index, ids, mask in batches:
            out[index] = self.run(ids.numpy(), mask.numpy())
        return torch.from_numpy(out)
