"""The demo's settings controls as a strategy, and a results setting as control values (no UI code here)."""

from __future__ import annotations

import math

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


def demo_strategy(cut: str, chunk_size, stride, minimal, clamp: bool = True) -> tuple[Strategy, int, int, str]:
    """The strategy the demo's controls describe, with stride and minimal_chunk_size clamped to chunk_size when
    they are within the sliders' range (dragging chunk_size below them), and a note saying so; values outside
    the sliders' range are refused by the strategy's own check. Truncations keep chunk_size tokens (head+tail: a
    quarter from the start, 128+382 at 510)."""
    size = whole_number(chunk_size, "chunk_size")
    stride, minimal = whole_number(stride, "stride"), whole_number(minimal, "minimal_chunk_size")
    notes = []
    if clamp and 1 <= size < stride <= CHUNK_RANGE[1]:
        stride = size
        notes.append(f"stride lowered to chunk_size ({size})")
    if clamp and 1 <= size < minimal <= CHUNK_RANGE[1]:
        minimal = size
        notes.append(f"minimal_chunk_size lowered to chunk_size ({size})")
    if cut in (FIXED, SENTENCES):
        strategy = (Sentences if cut == SENTENCES else Chunking)(size, stride, minimal)
    elif cut in (HEAD_ONLY, TAIL_ONLY, HEAD_TAIL):
        head = {HEAD_ONLY: size, TAIL_ONLY: 0, HEAD_TAIL: round(size * 128 / 510)}[cut]
        strategy = Truncation(head, size - head)
    else:
        raise LongbertError(f"unknown cut {cut!r}: choose one of {', '.join(CUTS)}")
    return strategy, stride, minimal, "; ".join(notes)


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
