"""The demo's settings controls as a strategy, and a results setting as control values (no UI code here)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from eval.results import parse_setting
from longbert import Chunking, LongbertError, Sentences, Truncation
from longbert.chunking import Strategy
from ui.config import CHUNK_RANGE

FIXED, SENTENCES, HEAD_ONLY, TAIL_ONLY, HEAD_TAIL = "fixed windows", "sentence boundaries", "head", "tail", "head+tail"
CUTS = [FIXED, SENTENCES, HEAD_ONLY, TAIL_ONLY, HEAD_TAIL]


def whole_number(value, name: str) -> int:
    """A control's value as an int (sliders send 510.0; the API can send anything): else one LongbertError line."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number != int(number):
        raise LongbertError(f"{name} must be a whole number, got {value!r}")
    return int(number)


@dataclass(frozen=True)
class Chosen:
    """What one setting's sliders last used, and the shares of chunk_size that stride and minimal_chunk_size keep
    when chunk_size moves (so 510 -> 16 -> 510 comes back to where it started)."""

    chunk_size: int
    stride: int
    minimal: int
    stride_share: float
    minimal_share: float

    @classmethod
    def of(cls, chunk_size: int, stride: int, minimal: int) -> Chosen:
        return cls(chunk_size, stride, minimal, stride / chunk_size, 0.0 if minimal == 1 else minimal / chunk_size)


def clamped(value, name: str, low: int, high: int, notes: list[str]) -> int:
    """A typed or dragged value as a whole number in [low, high]: out of range is brought in, with a note saying
    so; what is not a number is one LongbertError line. Every slider's value goes through here alike."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise LongbertError(f"{name} needs a whole number from {low} to {high}, got {value!r}")
    used = min(max(round(number), low), high)
    if used != number:
        notes.append(f"{name} {number:g} is outside {low}-{high}: {used} used")
    return used


def settle(chunk_size, stride, minimal, last: Chosen | None) -> tuple[Chosen, str]:
    """The sliders' values as used: each clamped to its range (stride and minimal_chunk_size to chunk_size); when
    chunk_size alone moved, stride and minimal_chunk_size follow it at the shares last chosen. A note says what
    changed from what was asked."""
    notes: list[str] = []
    size = clamped(chunk_size, "chunk_size", *CHUNK_RANGE, notes)
    stride = clamped(stride, "stride", 1, CHUNK_RANGE[1], notes)
    minimal = clamped(minimal, "minimal_chunk_size", 1, CHUNK_RANGE[1], notes)
    if last is not None and size != last.chunk_size and (stride, minimal) == (last.stride, last.minimal):
        followed = max(1, round(size * last.stride_share)), max(1, round(size * last.minimal_share))
        if followed[0] != stride:
            notes.append(f"stride follows chunk_size at {last.stride_share:.0%}: {followed[0]}")
        stride, minimal = followed
        chosen = Chosen(size, min(stride, size), min(minimal, size), last.stride_share, last.minimal_share)
    else:
        for name, value in (("stride", stride), ("minimal_chunk_size", minimal)):
            if value > size:
                notes.append(f"{name} {value} is above chunk_size: {size} used")
        chosen = Chosen.of(size, min(stride, size), min(minimal, size))
    return chosen, "; ".join(notes)


def demo_strategy(cut: str, chunk_size, stride, minimal) -> Strategy:
    """The strategy of a cut and whole-number sizes; sizes out of range are refused by the strategy's own check.
    Truncations keep chunk_size tokens (head+tail: a quarter from the start, 128+382 at 510)."""
    size = whole_number(chunk_size, "chunk_size")
    stride, minimal = whole_number(stride, "stride"), whole_number(minimal, "minimal_chunk_size")
    if cut in (FIXED, SENTENCES):
        strategy = (Sentences if cut == SENTENCES else Chunking)(size, stride, minimal)
    elif cut in (HEAD_ONLY, TAIL_ONLY, HEAD_TAIL):
        head = {HEAD_ONLY: size, TAIL_ONLY: 0, HEAD_TAIL: round(size * 128 / 510)}[cut]
        strategy = Truncation(head, size - head)
    else:
        raise LongbertError(f"unknown cut {cut!r}: choose one of {', '.join(CUTS)}")
    return strategy


def controls_for(setting: str) -> tuple[int, int, int, str, str]:
    """Demo controls (chunk_size, stride, minimal, pooling, cut) showing a results setting such as
    'chunk 256/128/1 max', 'sentences 510/510/1 mean' or 'head+tail 128+382'."""
    strategy, pooling = parse_setting(setting)
    if isinstance(strategy, Truncation):
        cut = HEAD_TAIL if strategy.head and strategy.tail else (HEAD_ONLY if strategy.head else TAIL_ONLY)
        size = strategy.head + strategy.tail
        return size, size, 1, "mean", cut
    cut = SENTENCES if isinstance(strategy, Sentences) else FIXED
    return strategy.chunk_size, strategy.stride, strategy.minimal_chunk_size, pooling, cut
