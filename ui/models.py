"""The models the app offers, each loaded once per process, and one review's chunk scores kept for re-pooling."""

from __future__ import annotations

import contextlib
import functools
import os
import threading

from longbert import LongbertError, LongTextClassifier
from longbert.bundled import default_model
from longbert.chunking import Strategy
from ui import config

_loaded: dict[str, LongTextClassifier] = {}
_loading = threading.Lock()


def model_choices() -> list[str]:
    """The default model first, then any from LONGBERT_MODELS."""
    choices = []
    with contextlib.suppress(LongbertError):
        choices.append(default_model())
    choices += [m.strip() for m in os.environ.get("LONGBERT_MODELS", "").split(",") if m.strip()]
    return list(dict.fromkeys(choices))


def classifier_for(model: str) -> LongTextClassifier:
    """The loaded classifier of an offered model: the picker's choices, in the page and through the API alike,
    so no request can make the server download or load a model of its own choosing."""
    if model not in model_choices():
        raise LongbertError(f"model {model!r} is not offered here (set LONGBERT_MODELS to offer more)")
    return load_classifier(model)


def is_loaded(model: str) -> bool:
    return model in _loaded


def load_classifier(model: str) -> LongTextClassifier:
    """A model loaded once per process (requests arriving while it loads wait for it), in LONGBERT_PRECISION."""
    with _loading:
        if model not in _loaded:
            _loaded[model] = LongTextClassifier.from_pretrained(model, precision=config.precision())
        return _loaded[model]


def forget_models() -> None:
    """Drop the loaded models and cached chunk scores, so the next request loads afresh (bench.demo, per precision)."""
    with _loading:
        _loaded.clear()
    scored_chunks.cache_clear()


@functools.lru_cache(maxsize=32)
def scored_chunks(model: str, text: str, strategy: Strategy):
    """(encoded, chunks, chunk scores or None when there are more than MAX_CHUNKS) of one review: kept for the
    last 32 requests, so changing only the pooling re-pools the scores already computed."""
    classifier = classifier_for(model)
    encoded = classifier.encode([text], strategies=[strategy])
    chunks = classifier.chunk(encoded, strategy)
    return encoded, chunks, (classifier.score(chunks) if len(chunks) <= config.MAX_CHUNKS else None)
