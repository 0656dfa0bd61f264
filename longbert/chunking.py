"""The chunk stage: where the chunks of an encoded text start and end, and the chunks of many texts assembled.

A strategy maps an encoded text to its windows. A window is a tuple of token ranges [start, end)
that are joined into one chunk (head+tail truncation joins two ranges). Fixed windows and
truncation need only the token count; sentence-aware chunking reads the text's sentence starts.
chunk() applies one strategy to many texts and gives the score and pool stages what they need.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from longbert.encoding import Encoded
from longbert.errors import LongbertError

Range = tuple[int, int]
Window = tuple[Range, ...]


def window_size(window: Window) -> int:
    """How many tokens a window holds."""
    return sum(end - start for start, end in window)


def token_count(text: Encoded | int) -> int:
    """An encoded text's token count (a bare count is accepted by the strategies that need no more)."""
    return text if isinstance(text, int) else len(text)


class Strategy(Protocol):
    """Anything that cuts an encoded text into windows: Chunking, Sentences and Truncation are the kinds.

    name is also the strategy's spec: parse_strategy(strategy.name) gives the strategy back.
    """

    name: str
    needs_sentences: bool

    def windows(self, text: Encoded | int) -> list[Window]: ...

    def validate(self, max_chunk_size: int | None = None) -> None: ...


def check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LongbertError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class Chunking:
    """Chunks of chunk_size tokens every stride tokens; a last chunk under minimal_chunk_size is dropped.

    Chunks start at 0, stride, 2*stride, ... and stop after the first chunk that reaches the end,
    so no chunk lies wholly inside the one before it. Only the last chunk can be short; it is
    dropped when shorter than minimal_chunk_size, unless it is the text's only chunk.
    """

    chunk_size: int = 510
    stride: int = 510
    minimal_chunk_size: int = 1
    needs_sentences = False

    def __post_init__(self) -> None:
        self.validate()

    @property
    def name(self) -> str:
        return f"chunk {self.chunk_size}/{self.stride}/{self.minimal_chunk_size}"

    def validate(self, max_chunk_size: int | None = None) -> None:
        """Raise LongbertError unless 1 <= stride, minimal_chunk_size <= chunk_size <= max_chunk_size."""
        check_positive("chunk_size", self.chunk_size)
        check_positive("stride", self.stride)
        check_positive("minimal_chunk_size", self.minimal_chunk_size)
        if self.stride > self.chunk_size:
            raise LongbertError(
                f"stride ({self.stride}) must not exceed chunk_size ({self.chunk_size}): tokens would be skipped"
            )
        if self.minimal_chunk_size > self.chunk_size:
            raise LongbertError(
                f"minimal_chunk_size ({self.minimal_chunk_size}) must not exceed chunk_size ({self.chunk_size})"
            )
        if max_chunk_size is not None and self.chunk_size > max_chunk_size:
            raise LongbertError(
                f"chunk_size ({self.chunk_size}) exceeds what the model allows ({max_chunk_size} tokens "
                "plus its special tokens)"
            )

    def windows(self, text: Encoded | int) -> list[Window]:
        n_tokens = token_count(text)
        if n_tokens <= 0:
            return []
        starts = range(0, max(n_tokens - self.chunk_size, 0) + self.stride, self.stride)
        return _drop_short_last([((start, min(start + self.chunk_size, n_tokens)),) for start in starts], self)


def _drop_short_last(windows: list[Window], chunking: Chunking | Sentences) -> list[Window]:
    """Drop the last window if it is shorter than minimal_chunk_size and not the only one."""
    if len(windows) > 1 and window_size(windows[-1]) < chunking.minimal_chunk_size:
        windows.pop()
    return windows


@dataclass(frozen=True)
class Sentences(Chunking):
    """Chunks of at most chunk_size tokens that end at a sentence boundary where the chunk holds one.

    Each chunk starts at a sentence start and takes whole sentences while they fit (ending past the
    chunk before it); a sentence longer than chunk_size is cut where it must be. The next chunk starts
    at the earliest sentence start within the last chunk_size - stride tokens of the chunk (whole
    sentences of overlap, at most that many tokens), else where the chunk ended. Sentence starts come
    from blingfire, mapped to tokens. With a sentence starting at every token it equals Chunking.
    """

    needs_sentences = True

    @property
    def name(self) -> str:
        return f"sentences {self.chunk_size}/{self.stride}/{self.minimal_chunk_size}"

    def windows(self, text: Encoded | int) -> list[Window]:
        n_tokens = token_count(text)
        if n_tokens <= self.chunk_size:
            return [((0, n_tokens),)] if n_tokens > 0 else []
        starts = getattr(text, "sentence_starts", None)
        if starts is None:
            raise LongbertError("sentence-aware chunking needs texts encoded with their sentence starts")
        bounds = [int(b) for b in starts] + [n_tokens]
        overlap = self.chunk_size - self.stride
        windows: list[Window] = []
        start = end = 0
        while True:
            limit = start + self.chunk_size
            # the last boundary that fits and passes the previous chunk's end, so no chunk lies inside another
            fitting = bounds[bisect.bisect_left(bounds, max(start, end) + 1) : bisect.bisect_right(bounds, limit)]
            end = fitting[-1] if fitting else limit
            windows.append(((start, end),))
            if end >= n_tokens:
                return _drop_short_last(windows, self)
            later = bounds[bisect.bisect_left(bounds, max(start + 1, end - overlap)) :]
            start = min(later[0], end) if later else end


def cost(strategy: Strategy, text: Encoded | int, special: int = 0) -> int:
    """The tokens a strategy's chunks of a text hold, with `special` tokens added to each: what scoring them costs."""
    return sum(window_size(w) + special for w in strategy.windows(text))


def smallest_stride(chunking: Chunking, text: Encoded | int, max_tokens: int, special: int = 0) -> int | None:
    """The smallest stride from chunking's own up to its chunk_size whose chunks of the text cost at most max_tokens
    (see cost), or None if even non-overlapping chunks cost more (a UI's bound on work)."""
    for stride in range(chunking.stride, chunking.chunk_size + 1):
        if cost(replace(chunking, stride=stride), text, special) <= max_tokens:
            return stride
    return None


@dataclass(frozen=True)
class Truncation:
    """One chunk: the first `head` tokens joined to the last `tail` tokens (the whole text if it fits)."""

    head: int = 510
    tail: int = 0

    needs_sentences = False

    def __post_init__(self) -> None:
        self.validate()

    @property
    def name(self) -> str:
        if self.tail == 0:
            return f"head {self.head}"
        if self.head == 0:
            return f"tail {self.tail}"
        return f"head+tail {self.head}+{self.tail}"

    @property
    def chunk_size(self) -> int:
        return self.head + self.tail

    def validate(self, max_chunk_size: int | None = None) -> None:
        """Raise LongbertError unless head, tail >= 0, head + tail >= 1 and it fits the model."""
        for name, value in (("head", self.head), ("tail", self.tail)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise LongbertError(f"truncation {name} must be a non-negative integer, got {value!r}")
        if self.head + self.tail < 1:
            raise LongbertError("truncation must keep at least one token (head + tail >= 1)")
        if max_chunk_size is not None and self.chunk_size > max_chunk_size:
            raise LongbertError(
                f"truncation keeps {self.chunk_size} tokens, more than the model allows ({max_chunk_size})"
            )

    def windows(self, text: Encoded | int) -> list[Window]:
        n_tokens = token_count(text)
        if n_tokens <= 0:
            return []
        if n_tokens <= self.chunk_size:
            return [((0, n_tokens),)]
        ranges = [(0, self.head)] if self.head else []
        if self.tail:
            ranges.append((n_tokens - self.tail, n_tokens))
        return [tuple(ranges)]


HEAD = Truncation(510, 0)
TAIL = Truncation(0, 510)
HEAD_TAIL = Truncation(128, 382)

_NAMED = {"head": HEAD, "tail": TAIL, "head+tail": HEAD_TAIL}
_CHUNK_SPEC = re.compile(r"^(chunk\s*|sentences\s*)?(\d+)/(\d+)/(\d+)$")
_TRUNC_SPEC = re.compile(r"^(head|tail)[\s:-]*(\d+)$")
_HEAD_TAIL_SPEC = re.compile(r"^head\+tail[\s:-]*(\d+)\+(\d+)$")


def parse_strategy(spec: str) -> Strategy:
    """Parse 'head', 'tail', 'head+tail', 'head 256', 'head+tail 128+382', 'C/S/M' (chunk/stride/minimal),
    'sentences' (510/510/1) or 'sentences C/S/M'; every strategy's name parses back to it."""
    text = spec.strip().lower()
    if text in _NAMED:
        return _NAMED[text]
    if text == "sentences":
        return Sentences()
    if match := _CHUNK_SPEC.match(text):
        kind = Sentences if (match.group(1) or "").startswith("sentences") else Chunking
        return kind(*(int(g) for g in match.groups()[1:]))
    if match := _TRUNC_SPEC.match(text):
        size = int(match.group(2))
        return Truncation(size, 0) if match.group(1) == "head" else Truncation(0, size)
    if match := _HEAD_TAIL_SPEC.match(text):
        return Truncation(int(match.group(1)), int(match.group(2)))
    raise LongbertError(
        f"unknown strategy {spec!r}: use 'head', 'tail', 'head+tail', 'head N', 'tail N', "
        "'head+tail H+T', 'CHUNK/STRIDE/MINIMAL' such as '510/255/1', or 'sentences [C/S/M]'"
    )


def window_ids(encoded: Encoded, window: Window) -> np.ndarray:
    """The content token ids of one window (a view when the window is one range)."""
    if len(window) == 1:
        return encoded.ids[window[0][0] : window[0][1]]
    return np.concatenate([encoded.ids[s:e] for s, e in window])


@dataclass(frozen=True)
class Chunks:
    """The chunks of many texts under one strategy, text after text: the score stage's input.

    ids[i] are chunk i's content tokens (no special tokens); counts[t] is how many chunks text t has
    (0 for a text without tokens); windows[t] are text t's token ranges, for spans and cache keys.
    """

    ids: list[np.ndarray]
    counts: list[int]
    windows: list[list[Window]]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """Content tokens per chunk."""
        return np.array([len(c) for c in self.ids], dtype=np.int64)

    @classmethod
    def joined(cls, parts: Sequence[Chunks]) -> Chunks:
        """Several cuts' chunks as one, one after another (their texts repeat, once a part)."""
        return cls([i for p in parts for i in p.ids], [n for p in parts for n in p.counts],
                   [w for p in parts for w in p.windows])  # fmt: skip

    def select(self, texts: Sequence[int]) -> Chunks:
        """The chunks of some texts, in the order given."""
        first = np.concatenate([[0], np.cumsum(self.counts)])
        ids = [self.ids[i] for t in texts for i in range(first[t], first[t + 1])]
        return Chunks(ids, [self.counts[t] for t in texts], [self.windows[t] for t in texts])

    def keys(self) -> list[tuple[int, Window]]:
        """(text, window) of each chunk: what identifies it across strategies."""
        return [(t, w) for t, ws in enumerate(self.windows) for w in ws]


def chunk(
    encoded: Sequence[Encoded], strategy: Strategy, max_chunk_size: int | None = None, max_chunks: int | None = None
) -> Chunks:
    """Cut every encoded text by the strategy (validated once, against the model's limit if given).

    max_chunks keeps at most that many first chunks per text (training's bound on a text's cost).
    """
    strategy.validate(max_chunk_size)
    windows = [strategy.windows(e)[:max_chunks] for e in encoded]
    ids = [window_ids(e, w) for e, ws in zip(encoded, windows) for w in ws]
    return Chunks(ids, [len(w) for w in windows], windows)
