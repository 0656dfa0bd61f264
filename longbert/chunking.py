"""Where the chunks of a token sequence start and end: sliding-window chunking and truncation.

A strategy maps a text's token count to its windows. A window is a tuple of token ranges
[start, end) that are joined into one chunk (head+tail truncation joins two ranges).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol

from longbert.errors import LongbertError

Range = tuple[int, int]
Window = tuple[Range, ...]


def window_size(window: Window) -> int:
    """How many tokens a window holds."""
    return sum(end - start for start, end in window)


class Strategy(Protocol):
    """Anything that splits n tokens into windows; Chunking and Truncation are the two kinds."""

    name: str

    def windows(self, n_tokens: int) -> list[Window]: ...

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

    def windows(self, n_tokens: int) -> list[Window]:
        self.validate()
        if n_tokens <= 0:
            return []
        starts = range(0, max(n_tokens - self.chunk_size, 0) + self.stride, self.stride)
        windows = [((start, min(start + self.chunk_size, n_tokens)),) for start in starts]
        last_start, last_end = windows[-1][0]
        if len(windows) > 1 and last_end - last_start < self.minimal_chunk_size:
            windows.pop()
        return windows


def smallest_stride(chunking: Chunking, n_tokens: int, max_chunks: int) -> int | None:
    """The smallest stride from chunking's own up to its chunk_size that cuts n_tokens into at most
    max_chunks chunks, or None if even non-overlapping chunks are too many (a UI's bound on work)."""
    for stride in range(chunking.stride, chunking.chunk_size + 1):
        if len(replace(chunking, stride=stride).windows(n_tokens)) <= max_chunks:
            return stride
    return None


@dataclass(frozen=True)
class Truncation:
    """One chunk: the first `head` tokens joined to the last `tail` tokens (the whole text if it fits)."""

    head: int = 510
    tail: int = 0

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

    def windows(self, n_tokens: int) -> list[Window]:
        self.validate()
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
_CHUNK_SPEC = re.compile(r"^(?:chunk\s*)?(\d+)/(\d+)/(\d+)$")
_TRUNC_SPEC = re.compile(r"^(head|tail)[\s:-]*(\d+)$")
_HEAD_TAIL_SPEC = re.compile(r"^head\+tail[\s:-]*(\d+)\+(\d+)$")


def parse_strategy(spec: str) -> Strategy:
    """Parse 'head', 'tail', 'head+tail', 'head 256', 'head+tail 128+382' or 'C/S/M' (chunk/stride/minimal)."""
    text = spec.strip().lower()
    if text in _NAMED:
        return _NAMED[text]
    if match := _CHUNK_SPEC.match(text):
        chunking = Chunking(*(int(g) for g in match.groups()))
        chunking.validate()
        return chunking
    if match := _TRUNC_SPEC.match(text):
        size = int(match.group(2))
        truncation = Truncation(size, 0) if match.group(1) == "head" else Truncation(0, size)
        truncation.validate()
        return truncation
    if match := _HEAD_TAIL_SPEC.match(text):
        truncation = Truncation(int(match.group(1)), int(match.group(2)))
        truncation.validate()
        return truncation
    raise LongbertError(
        f"unknown strategy {spec!r}: use 'head', 'tail', 'head+tail', 'head N', 'tail N', "
        "'head+tail H+T' or 'CHUNK/STRIDE/MINIMAL' such as '510/255/1'"
    )
