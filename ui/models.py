"""The models the app offers, each loaded once per process, and the chunks and chunk scores of recent reviews."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections import OrderedDict

from longbert import Chunks, ChunkScores, LongbertError, LongTextClassifier
from longbert.bundled import default_model
from longbert.chunking import Strategy
from longbert.scoring import Meter
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
    forget_scores()


def forget_scores() -> None:
    """Drop the kept chunks and chunk scores, so the next request scores afresh (bench.demo's computed case)."""
    chunked.cache_clear()
    with _scores_lock:
        _scores.clear()


@functools.lru_cache(maxsize=32)
def chunked(model: str, text: str, strategy: Strategy) -> tuple[list, Chunks]:
    """(encoded, chunks) of one review under a strategy: cheap, and what a request's cost is counted from."""
    classifier = classifier_for(model)
    encoded = classifier.encode([text], strategies=[strategy])
    return encoded, classifier.chunk(encoded, strategy)


_scores: OrderedDict[tuple, ChunkScores] = OrderedDict()
_scores_lock = threading.Lock()
KEPT_SCORES = 32


def scored(model: str, text: str, strategy: Strategy, meter: Meter | None = None) -> ChunkScores:
    """One review's chunk scores, kept for the last KEPT_SCORES requests, so changing only the pooling re-pools the
    scores already computed; a meter counts the tokens and stops the scoring between batches (nothing is kept)."""
    key = (model, text, strategy)
    with _scores_lock:
        if key in _scores:
            _scores.move_to_end(key)
            return _scores[key]
    classifier = classifier_for(model)
    scores = classifier.score(chunked(model, text, strategy)[1], classifier.scorer_with(meter=meter))
    with _scores_lock:
        _scores[key] = scores
        while len(_scores) > KEPT_SCORES:
            _scores.popitem(last=False)
    return scores


def is_scored(model: str, text: str, strategy: Strategy) -> bool:
    with _scores_lock:
        return (model, text, strategy) in _scores
