"""A long-text classifier: any Hugging Face sequence-classification model reading whole texts in chunks.

predict() tokenizes each text once, cuts it into windows by a strategy, scores the chunks of many
texts together in length-sorted token-budgeted batches, and pools each text's chunk outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from longbert.chunking import Chunking, Strategy, Window, window_size
from longbert.devices import autocast_dtype, resolve_device
from longbert.errors import LongbertError
from longbert.loading import load_pretrained, max_sequence_length
from longbert.pooling import check_pooling, pool
from longbert.scoring import default_pad_multiple, score_chunks
from longbert.settings import Settings
from longbert.tokenize import Encoded, backend_tokenizer, encode_texts, special_tokens

# Texts are processed in groups of at most this many characters or texts, which bounds memory
# for any corpus while leaving each group large enough for length sorting to remove padding.
GROUP_CHARS = 4_000_000
GROUP_TEXTS = 8192
_END = object()
T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class ChunkResult:
    """One chunk of a text: its class probabilities, token count and character span(s) in the text."""

    probabilities: tuple[float, ...]
    tokens: int
    spans: tuple[tuple[int, int], ...]

    @property
    def span(self) -> tuple[int, int]:
        """First to last character the chunk covers."""
        return self.spans[0][0], self.spans[-1][1]


@dataclass(frozen=True)
class Prediction:
    """A text's pooled answer. An empty or whitespace-only text has no tokens: label and probabilities are None."""

    label: str | None
    probabilities: tuple[float, ...] | None
    chunks: tuple[ChunkResult, ...]
    num_tokens: int

    def to_dict(self, labels: Sequence[str]) -> dict:
        """A JSON-ready dict with probabilities keyed by label name."""
        return {
            "label": self.label,
            "probabilities": None if self.probabilities is None else dict(zip(labels, self.probabilities)),
            "num_tokens": self.num_tokens,
            "num_chunks": len(self.chunks),
            "chunks": [
                {"probabilities": dict(zip(labels, c.probabilities)), "tokens": c.tokens, "span": list(c.span)}
                for c in self.chunks
            ],
        }


@dataclass(frozen=True)
class ChunkScores:
    """Per-chunk logits of many texts under one strategy: what every pooling is computed from."""

    logits: torch.Tensor
    counts: list[int]
    lengths: torch.Tensor
    windows: list[list[Window]]

    def pooled(self, method: str) -> np.ndarray:
        """Pooled probabilities [n_texts, n_classes]; rows of texts without chunks are NaN."""
        out = np.full((len(self.counts), self.logits.shape[1]), np.nan, dtype=np.float64)
        has = np.asarray(self.counts) > 0
        if has.any():
            counts = [c for c in self.counts if c > 0]
            out[has] = pool(self.logits, counts, method, self.lengths).double().numpy()
        return out


def check_single_label(config) -> None:
    """Refuse models whose outputs are not one softmax over two or more classes, which pooling assumes."""
    if config.num_labels < 2 or config.problem_type == "regression":
        raise LongbertError(f"the model has {config.num_labels} output(s) for regression; longbert needs a classifier")
    if config.problem_type == "multi_label_classification":
        raise LongbertError("the model is multi-label (a sigmoid per label); longbert pools single-label classifiers")


def window_ids(encoded: Encoded, window: Window) -> np.ndarray:
    """The content token ids of one window (a view when the window is one range)."""
    if len(window) == 1:
        return encoded.ids[window[0][0] : window[0][1]]
    return np.concatenate([encoded.ids[s:e] for s, e in window])


def window_spans(encoded: Encoded, window: Window) -> tuple[tuple[int, int], ...]:
    """Character spans of a window's token ranges."""
    return tuple(encoded.span(s, e) for s, e in window)


class LongTextClassifier:
    """A sequence-classification model, its tokenizer and its long-text settings, ready to predict.

    Without settings it chunks at the model's largest size with no overlap (510/510/1 for BERT)
    and pools with the mean. precision: auto (bf16 autocast on CUDA and on CPUs with native bf16,
    else fp32), fp32, bf16 or fp16; a model whose weights are already bf16 or fp16 runs in them
    (from_pretrained loads half weights on CUDA).
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        settings: Settings | None = None,
        device: str | torch.device | None = None,
        precision: str = "auto",
    ):
        check_single_label(model.config)
        self.device = resolve_device(device)
        # Half-precision weights run as they are: autocast over them would only add fp32 layer norms.
        half = next(model.parameters()).dtype in (torch.bfloat16, torch.float16)
        self.dtype = None if half else autocast_dtype(self.device, precision)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.backend = backend_tokenizer(tokenizer)
        self.special = special_tokens(self.backend, tokenizer.pad_token_id)
        self.max_length = max_sequence_length(tokenizer, model.config)
        self.max_chunk_size = self.max_length - self.special.count
        config = model.config
        self.labels = [str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
        # Without saved settings: the largest chunks the model takes, no overlap, mean pooling.
        self.settings = settings or Settings(Chunking(self.max_chunk_size, self.max_chunk_size, 1))
        self.settings.chunking.validate(self.max_chunk_size)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        device: str | torch.device | None = None,
        precision: str = "auto",
        *,
        new_head: bool = False,
    ) -> LongTextClassifier:
        """Load from a local directory or a Hub id, with the settings saved beside the model.

        A checkpoint without a trained classification head is refused, unless new_head (a random
        head: for timing, not for answers).
        """
        model, tokenizer, settings = load_pretrained(name_or_path, new_head=new_head)
        device = resolve_device(device)
        half = autocast_dtype(device, precision)
        if device.type == "cuda" and half is not None:
            # Weights in bf16 rather than bf16 autocast: 13% faster on an H200 (bench/RESULTS.md).
            model = model.to(half)
        return cls(model, tokenizer, settings=settings, device=device, precision=precision)

    @property
    def precision_name(self) -> str:
        """What the model computes in, for results files: 'bfloat16 autocast', 'bfloat16 weights' or 'float32'."""
        if self.dtype is not None:
            return f"{str(self.dtype).removeprefix('torch.')} autocast"
        weights = next(self.model.parameters()).dtype
        return "float32" if weights == torch.float32 else f"{str(weights).removeprefix('torch.')} weights"

    def default_batch_tokens(self) -> int:
        """Tokens per forward pass: large on accelerators, cache-sized on CPUs (2048 measured fastest there)."""
        return 2048 if self.device.type == "cpu" else 262_144

    def default_pad_multiple(self) -> int:
        """Batch widths are rounded up to this (64 on CUDA: see scoring.default_pad_multiple)."""
        return default_pad_multiple(self.device)

    def encode(self, texts: Sequence[str], *, spans: bool = True) -> list[Encoded]:
        """Content tokens of each text (HTML tags blanked if the settings say so); spans map them to characters."""
        return encode_texts(self.backend, texts, clean_markup=self.settings.clean_markup, spans=spans)

    def score(
        self,
        encoded: Sequence[Encoded],
        strategy: Strategy | None = None,
        *,
        batch_tokens: int | None = None,
        padding: str = "longest",
        progress: bool = False,
    ) -> ChunkScores:
        """Chunk already-encoded texts by a strategy and score every chunk once."""
        strategy = strategy or self.settings.chunking
        strategy.validate(self.max_chunk_size)
        windows = [strategy.windows(len(e)) for e in encoded]
        chunks = [window_ids(e, w) for e, ws in zip(encoded, windows) for w in ws]
        logits = self.score_chunks(chunks, batch_tokens=batch_tokens, padding=padding, progress=progress)
        lengths = torch.tensor([len(c) for c in chunks], dtype=torch.float32)
        return ChunkScores(logits, [len(w) for w in windows], lengths, windows)

    def score_chunks(
        self,
        chunks: Sequence[np.ndarray],
        *,
        batch_tokens: int | None = None,
        padding: str = "longest",
        pad_multiple: int | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """Logits [n_chunks, n_labels] of content-token chunks (at most max_chunk_size tokens each).

        pad_multiple: round batch widths up to this (default: default_pad_multiple(), 64 on CUDA).
        """
        if padding not in ("longest", "max_length"):
            raise LongbertError(f"padding must be 'longest' or 'max_length', got {padding!r}")
        return score_chunks(
            self.model,
            chunks,
            self.special,
            batch_tokens=batch_tokens or self.default_batch_tokens(),
            device=self.device,
            dtype=self.dtype,
            pad_to=self.max_length if padding == "max_length" else None,
            pad_multiple=self.default_pad_multiple() if pad_multiple is None else pad_multiple,
            progress=progress,
        )

    def iter_predict(
        self,
        texts: Iterable[str],
        strategy: Strategy | None = None,
        pooling: str | None = None,
        *,
        batch_tokens: int | None = None,
        padding: str = "longest",
        progress: bool = False,
    ) -> Iterator[Prediction]:
        """Predict texts in order, a bounded group at a time, so any number of texts streams through."""
        pooling = check_pooling(pooling or self.settings.pooling)
        strategy = strategy or self.settings.chunking
        strategy.validate(self.max_chunk_size)
        total = len(texts) if isinstance(texts, Sequence) else None
        with tqdm(total=total, desc="texts", unit="text", disable=not progress) as bar:
            for group, encoded in _prefetched(self.encode, _groups(texts)):
                yield from self.predict_encoded(encoded, strategy, pooling, batch_tokens=batch_tokens, padding=padding)
                bar.update(len(group))

    def predict_encoded(
        self,
        encoded: Sequence[Encoded],
        strategy: Strategy | None = None,
        pooling: str | None = None,
        *,
        batch_tokens: int | None = None,
        padding: str = "longest",
    ) -> list[Prediction]:
        """Predictions for texts already encoded with encode(): one tokenization serves several strategies."""
        pooling = check_pooling(pooling or self.settings.pooling)
        scores = self.score(encoded, strategy, batch_tokens=batch_tokens, padding=padding)
        pooled = scores.pooled(pooling)
        best = np.argmax(np.nan_to_num(pooled, nan=-1.0), axis=1)
        chunk_probs = scores.logits.softmax(-1).double().numpy()
        predictions = []
        first = 0
        for row, (enc, windows) in enumerate(zip(encoded, scores.windows)):
            chunks = tuple(
                ChunkResult(tuple(chunk_probs[first + k].tolist()), window_size(w), window_spans(enc, w))
                for k, w in enumerate(windows)
            )
            first += len(windows)
            if not windows:
                predictions.append(Prediction(None, None, (), len(enc)))
            else:
                probs = tuple(pooled[row].tolist())
                predictions.append(Prediction(self.labels[best[row]], probs, chunks, len(enc)))
        return predictions

    def predict(
        self, texts: Sequence[str] | str, strategy: Strategy | None = None, pooling: str | None = None, **kwargs
    ) -> list[Prediction]:
        """Predictions for many texts (or one text), in input order."""
        if isinstance(texts, str):
            texts = [texts]
        return list(self.iter_predict(texts, strategy, pooling, **kwargs))


def _prefetched(func: Callable[[T], U], items: Iterable[T]) -> Iterator[tuple[T, U]]:
    """Yield (item, func(item)) in order, computing the next item's result in a thread meanwhile.

    The tokenizer releases the GIL, so the next group tokenizes while this one is scored.
    """
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=1) as executor:
        item = next(iterator, _END)
        future = executor.submit(func, item) if item is not _END else None
        while future is not None:
            result = future.result()
            current, item = item, next(iterator, _END)
            future = executor.submit(func, item) if item is not _END else None
            yield current, result


def _groups(texts: Iterable[str]) -> Iterator[list[str]]:
    """Consecutive texts in groups of at most GROUP_TEXTS texts or about GROUP_CHARS characters."""
    group: list[str] = []
    chars = 0
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise LongbertError(f"text {index} is {type(text).__name__}, not a string")
        group.append(text)
        chars += len(text)
        if chars >= GROUP_CHARS or len(group) >= GROUP_TEXTS:
            yield group
            group, chars = [], 0
    if group:
        yield group
