"""The Demo tab's handlers: classify one review under the controls' setting (or A beside B), beside head truncation.

Every request is costed in tokens before any scoring and refused over its budget (ui.budget); a newer request of
the same page and setting stops the one still scoring; demo requests go before evaluation runs.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from eval.results import BASELINE, setting_name
from longbert import HEAD, Chunking, LongbertError, LongTextClassifier, Prediction, Truncation
from longbert.chunking import Strategy, smallest_stride
from longbert.data import SAMPLE
from longbert.errors import Stopped
from longbert.scoring import Meter, tokens_scored
from ui import budget, config, views
from ui.config import CHUNK_RANGE, FULL_SPLIT, gpu
from ui.controls import FIXED, Chosen, demo_strategy, settle
from ui.models import (
    chunked,
    classifier_for,
    is_hub_model,
    is_loaded,
    is_scored,
    load_classifier,
    model_choices,
    scored,
)
from ui.truth import true_label

LOADING = "Loading the model: the first request takes about 10 s, later ones a fraction of that."
REPLACED = "(replaced by a newer request)"  # a request stopped by a newer one changes nothing on the page
_scoring: dict[tuple, Meter] = {}  # the demo request scoring now, per (session, setting)
_scoring_lock = threading.Lock()


def example_reviews() -> list[str]:
    """Real IMDB test reviews: the split's longest (3,150 tokens with its markup, 2,811 once blanked), one that
    head truncation gets wrong and chunking right (from the committed results, if any), a middling one."""
    frame = pd.read_parquet(SAMPLE)
    order = frame["text"].str.len().sort_values(ascending=False).index
    examples = [frame.loc[order[0], "text"], frame.loc[order[200], "text"]]
    disagreements = FULL_SPLIT / "disagreements.parquet"
    if disagreements.is_file():
        d = pd.read_parquet(disagreements)
        chunked_setting = setting_name(Chunking(), "mean")
        truth = d["label"].astype(bool)
        head, chunk_mean = d[BASELINE] >= 0.5, d[chunked_setting] >= 0.5
        fixed = d[(head != truth) & (chunk_mean == truth) & d["num_tokens"].between(700, 1500)]
        if len(fixed):
            gap = (fixed[BASELINE] - fixed[chunked_setting]).abs()
            examples.insert(1, fixed.loc[gap.idxmax(), "text"])
    return examples


@contextlib.contextmanager
def superseding(key: tuple | None):
    """A meter for this request; a newer request with the same key (page session, setting) stops this one."""
    meter = Meter()
    if key is not None:
        with _scoring_lock:
            if key in _scoring:
                _scoring[key].stop.set()
            _scoring[key] = meter
    try:
        yield meter
    finally:
        if key is not None:
            with _scoring_lock:
                if _scoring.get(key) is meter:
                    del _scoring[key]


def over_budget(model: str, text: str, strategies: list, limit: int, what: str) -> str | None:
    """Why the request is refused (what it would cost, and a stride that fits), or None if it fits its budget."""
    classifier = classifier_for(model)
    todo = [chunked(model, text, s) for s in strategies if not is_scored(model, text, s)]
    tokens = sum(tokens_scored(chunks, classifier.special) for _, chunks in todo)
    if tokens <= limit:
        return None
    strategy, (encoded, chunks) = strategies[0], chunked(model, text, strategies[0])
    advice = "a larger chunk_size or stride fits."
    if isinstance(strategy, Chunking):  # the smallest stride whose chunks fit beside the others' (the head chunk)
        rest = tokens - tokens_scored(chunks, classifier.special) if not is_scored(model, text, strategy) else tokens
        stride = smallest_stride(strategy, encoded[0], limit - rest, classifier.special.count)
        advice = f"a stride of {stride} or more fits." if stride is not None else "even without overlap it needs more."
    return budget.refusal(tokens, limit, what, advice)


@dataclass(frozen=True)
class Answer:
    """A review classified under one setting, beside head truncation, as the demo and the MCP tool both give it."""

    classifier: LongTextClassifier
    strategy: Strategy
    prediction: Prediction
    head: Prediction
    head_size: int
    seconds: float
    tokens: int


def answer(text: str, model: str, chunk_size, stride, minimal, pooling: str, boundaries: str = FIXED,
           limit: int | None = None, key: tuple | None = None) -> Answer | str:  # fmt: skip
    """The review classified (an Answer) or why not (one line): checked, costed in tokens and refused over its
    budget before any scoring, scored before evaluation runs, stopped by a newer request of the same key (REPLACED)."""
    if not model:
        return "No model is configured: set LONGBERT_MODEL to a model directory or Hub id."
    if not isinstance(text, str) or not text.strip():
        return "Paste a review (or pick an example) to classify it."
    if len(text) > config.MAX_CHARS:
        return f"This text has {len(text):,} characters; the limit here is {config.MAX_CHARS:,}."
    try:
        classifier = classifier_for(model, key[0] if key else None)
        strategy = demo_strategy(boundaries, chunk_size, stride, minimal)
        strategy.validate(classifier.max_chunk_size)
        head_strategy = Truncation(min(HEAD.head, classifier.max_chunk_size), 0)
        what = "demo request" if key is None or key[1] == "A" else "compare request"
        refused = over_budget(model, text, [strategy, head_strategy], limit or config.DEMO_TOKENS, what)
        if refused:
            return refused
        start = time.perf_counter()
        with superseding(key) as meter, budget.PRIORITY.demo():
            scores, head_scores = (scored(model, text, s, meter) for s in (strategy, head_strategy))
        seconds = time.perf_counter() - start
        budget.RATE.observe(meter.done, seconds)
        encoded = chunked(model, text, strategy)[0]
        (prediction,) = classifier.pool(scores, encoded, pooling)
        (head,) = classifier.pool(head_scores, chunked(model, text, head_strategy)[0], "mean")
    except Stopped:
        return REPLACED
    except LongbertError as error:
        return f"**Error:** {error}"
    return Answer(classifier, strategy, prediction, head, head_strategy.head, seconds, meter.done)


@gpu
def classify(text: str, model: str, chunk_size, stride, minimal, pooling: str, boundaries: str = FIXED,
             limit: int | None = None, key: tuple | None = None, slot: str | None = None):  # fmt: skip
    """Demo and API handler: verdict markdown, per-chunk figure and shaded review; bad input becomes a message.

    boundaries: how chunks are cut: fixed windows, at sentence boundaries, or a truncation (head, tail, head+tail).
    limit: the request's budget in tokens (default: a demo request's); key: who a newer request replaces; slot:
    the verdict's title in compare mode (A or B).
    """
    found = answer(text, model, chunk_size, stride, minimal, pooling, boundaries, limit, key)
    if found == REPLACED:
        return REPLACED, None, None
    if isinstance(found, str):
        return found, None, ""
    classifier, prediction = found.classifier, found.prediction
    truth = true_label(text, classifier.task, key[0] if key else None)
    took = views.timing(found.seconds, found.tokens, classifier.engine)
    verdict = views.verdict(prediction, found.head, found.head_size, pooling, took, slot, truth)
    if not prediction.chunks:
        return verdict, None, ""
    shades, meaning = views.chunk_shades(prediction, classifier.labels)
    setting = f"{slot + ': ' if slot else ''}{found.strategy.name}, {pooling}"
    return (
        verdict,
        views.prediction_figure(prediction, classifier.labels, pooling, classifier.task.threshold),
        views.shaded_text(text, prediction, shades, meaning, setting),
    )


@gpu
def classify_text(text: str, chunk_size: int = 510, stride: int = 510, minimal_chunk_size: int = 1,
                  pooling: str = "mean") -> str:  # fmt: skip
    """Classify a text of any length (a movie review, say) with this app's default model, reading all of it: the
    text is cut into chunks of chunk_size tokens every stride tokens, each chunk is scored, and the chunks'
    probabilities are pooled into one answer. Long requests are refused with what they would cost.

    Args:
        text: the text to classify, of any length up to the app's character limit.
        chunk_size: tokens per chunk, 16 to 510 (510 reads the most context at once).
        stride: tokens between chunk starts, 1 to chunk_size (below chunk_size, chunks overlap).
        minimal_chunk_size: a last chunk shorter than this is dropped, 1 to chunk_size.
        pooling: how chunk probabilities become one answer: mean, max, logit_mean, median or weighted_mean.

    Returns:
        JSON: the label, the probability of each class, every chunk's probabilities, tokens and character span, the
        tokens scored and the engine that answered; or {"error": one line saying why not}.
    """
    found = answer(text, default_model(), chunk_size, stride, minimal_chunk_size, pooling)
    if isinstance(found, str):
        return json.dumps({"error": found.removeprefix("**Error:** ")})
    record = found.prediction.to_dict()
    return json.dumps(record | {"setting": f"{found.strategy.name}, {pooling}", "tokens_scored": found.tokens,
                                "engine": found.classifier.engine})  # fmt: skip


def default_model() -> str:
    """The model the MCP tools use: the first offered (the picker's default), or '' where none is."""
    choices = model_choices()
    return choices[0] if choices else ""


def demo(text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str = FIXED,
         last: Chosen | None = None, slot: str = "A", request: gr.Request = None, titled: bool = False):  # fmt: skip
    """A page request for setting A or B: the sliders settled (clamped alike, stride and minimal following
    chunk_size at their shares), classified under the slot's budget (titled with the slot in compare mode); the
    sliders and the state get what was used."""
    try:
        chosen, note = settle(chunk_size, stride, minimal, last)
    except LongbertError as error:
        keep = (gr.update(),) * 3 if last is None else (last.chunk_size, last.stride, last.minimal)
        return (f"**Error:** {error}", gr.update(), gr.update(), *keep, last)
    key = (getattr(request, "session_hash", None) or "direct", slot)
    limit = config.DEMO_TOKENS if slot == "A" else config.COMPARE_TOKENS
    verdict, chart, shaded = classify(text, model, chosen.chunk_size, chosen.stride, chosen.minimal, pooling, cut,
                                      limit, key, slot if titled else None)  # fmt: skip
    if verdict == REPLACED:
        return (gr.update(),) * 7
    used = (chosen.chunk_size, chosen.stride, chosen.minimal)
    return (verdict + (f"  \n_({note})_" if note else ""), chart, shaded, *used, chosen)


def demo_live(text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str = FIXED,
              on: bool = False, last: Chosen | None = None, request: gr.Request = None):  # fmt: skip
    """Setting A's page handler: demo() (titled A when compare mode is on), first saying that the model is loading
    where this is its first use."""
    if model and not is_loaded(model) and (model in model_choices() or is_hub_model(model)) and text and text.strip():
        yield (LOADING, *(gr.update(),) * 6)
    yield demo(text, model, chunk_size, stride, minimal, pooling, cut, last, "A", request, titled=bool(on))


def demo_b(text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str, on: bool,
           last: Chosen | None = None, request: gr.Request = None):  # fmt: skip
    """Setting B's verdict and chart, when compare mode is on (else nothing changes)."""
    if not on:
        return (gr.update(),) * 6
    verdict, chart, _, *rest = demo(text, model, chunk_size, stride, minimal, pooling, cut, last, "B", request, True)
    return (verdict, chart, *rest)


def preload() -> None:
    """Load the default model in the background at start and score the examples with the default setting (as
    Gradio's cache_examples would), so the first visitor rarely waits and the tokens/s rate is measured; a model
    that fails to load says so on the first request instead."""

    def load(model: str) -> None:
        with contextlib.suppress(Exception):
            load_classifier(model)
            top = CHUNK_RANGE[1]
            for example in example_reviews():
                classify(views.readable(example), model, top, top, 1, "mean")

    if models := model_choices():
        threading.Thread(target=load, args=(models[0],), daemon=True).start()


def linked_a(opened: bool, text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str = FIXED,
             on: bool = False, last: Chosen | None = None, request: gr.Request = None):  # fmt: skip
    """Setting A's run after a page opened from a link (ui.links): as demo_live; nothing where no link set it."""
    if not opened:
        yield (gr.update(),) * 7
        return
    yield from demo_live(text, model, chunk_size, stride, minimal, pooling, cut, on, last, request)


def linked_b(opened: bool, text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str, on: bool,
             last: Chosen | None = None, request: gr.Request = None):  # fmt: skip
    """Setting B's run after a page opened from a link: as demo_b; nothing where no link set it."""
    if not opened:
        return (gr.update(),) * 6
    return demo_b(text, model, chunk_size, stride, minimal, pooling, cut, on, last, request)
