"""The models the app offers, each loaded once per process, and the chunks and chunk scores of recent reviews."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path

from longbert import Chunks, ChunkScores, LongbertError, LongTextClassifier
from longbert.bundled import default_model
from longbert.chunking import Strategy
from longbert.hub import check_hub_model
from longbert.scoring import Meter
from ui import config

_loaded: OrderedDict[str, LongTextClassifier] = OrderedDict()  # least recently used first
_loading = threading.Lock()
_hub_loads: dict[str, list[float]] = {}  # when each session loaded a model from the Hub
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def model_choices() -> list[str]:
    """The default model first, then any from LONGBERT_MODELS."""
    choices = []
    with contextlib.suppress(LongbertError):
        choices.append(default_model())
    choices += [m.strip() for m in os.environ.get("LONGBERT_MODELS", "").split(",") if m.strip()]
    return list(dict.fromkeys(choices))


def is_hub_model(model: str) -> bool:
    """Whether a model not offered here may come from the Hub: Hub models are on and it reads as owner/name."""
    return config.hub_models() and isinstance(model, str) and bool(HUB_ID.match(model)) and not Path(model).exists()


def classifier_for(model: str, session: str | None = None) -> LongTextClassifier:
    """The loaded classifier of an offered model (the picker's choices), or, where Hub models are on, of an open
    BERT-family classifier on the Hub (checked before any download, loaded with safetensors only, counted against
    the session's LONGBERT_HUB_LOADS an hour): no request can make the server load anything else."""
    if model in model_choices():
        return load_classifier(model)
    if not is_hub_model(model):
        hub = " or type a Hub id (owner/name)" if config.hub_models() else ""
        raise LongbertError(f"model {model!r} is not offered here (set LONGBERT_MODELS to offer more{hub})")
    with _loading:
        if model in _loaded:
            _loaded.move_to_end(model)
            return _loaded[model]
    now, key = time.monotonic(), session or "direct"
    recent = [t for t in _hub_loads.get(key, []) if now - t < 3600]
    if len(recent) >= config.HUB_LOADS:
        raise LongbertError(f"you have loaded {len(recent)} models from the Hub this hour; the limit here is "
                            f"{config.HUB_LOADS} (LONGBERT_HUB_LOADS): use one already loaded")  # fmt: skip
    check_hub_model(model, config.MAX_MODEL_MB)
    _hub_loads[key] = [*recent, now]
    return load_classifier(model, safetensors_only=True)


def is_loaded(model: str) -> bool:
    return model in _loaded


def load_classifier(model: str, safetensors_only: bool = False) -> LongTextClassifier:
    """A model loaded once per process (requests arriving while it loads wait for it), in LONGBERT_PRECISION; at
    most LONGBERT_MAX_MODELS stay loaded, the least recently used going first."""
    with _loading:
        if model not in _loaded:
            _loaded[model] = LongTextClassifier.from_pretrained(model, precision=config.precision(),
                                                                safetensors_only=safetensors_only)  # fmt: skip
            while len(_loaded) > max(config.MAX_MODELS, 1):
                _loaded.popitem(last=False)
        _loaded.move_to_end(model)
        return _loaded[model]


def forget_models() -> None:
    """Drop the loaded models and cached chunk scores, so the next request loads afresh (bench.demo, per precision)."""
    with _loading:
        _loaded.clear()
    forget_scores()


def forget_scores() -> None:
    """Drop the kept chunks and chunk scores, so the next request scores afresh (bench.demo's computed case)."""
    chunked.cache_clear()
    _scores.clear()


@functools.lru_cache(maxsize=32)
def chunked(model: str, text: str, strategy: Strategy) -> tuple[list, Chunks]:
    """(encoded, chunks) of one review under a strategy: cheap, and what a request's cost is counted from."""
    classifier = classifier_for(model)
    encoded = classifier.encode([text], strategies=[strategy])
    return encoded, classifier.chunk(encoded, strategy)


class Kept:
    """The values of the last `size` keys used, shared by the request threads (the least recently used go first);
    a value is computed outside the lock, so a slow one holds up no other request."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        """The value kept for key (now the most recently used), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, value):
        """Keep value for key, dropping the least recently used beyond size; returns value."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


KEPT_SCORES = 32
_scores = Kept(KEPT_SCORES)  # (model, text, strategy) -> ChunkScores


def scored(model: str, text: str, strategy: Strategy, meter: Meter | None = None) -> ChunkScores:
    """One review's chunk scores, kept for the last KEPT_SCORES requests, so changing only the pooling re-pools the
    scores already computed; a meter counts the tokens and stops the scoring between batches (nothing is kept)."""
    key = (model, text, strategy)
    if (kept := _scores.get(key)) is not None:
        return kept
    classifier = classifier_for(model)
    return _scores.put(key, classifier.score(chunked(model, text, strategy)[1], classifier.scorer_with(meter=meter)))


def is_scored(model: str, text: str, strategy: Strategy) -> bool:
    return (model, text, strategy) in _scores
