"""The Demo tab's handlers: classify one review under the controls' setting (or A beside B), beside head truncation."""

from __future__ import annotations

import contextlib
import threading
import time

import gradio as gr
import pandas as pd

from eval.results import BASELINE, setting_name
from longbert import HEAD, Chunking, LongbertError, Truncation
from longbert.chunking import smallest_stride
from longbert.data import SAMPLE
from ui import config, views
from ui.config import CHUNK_RANGE, FULL_SPLIT, gpu
from ui.controls import FIXED, demo_strategy
from ui.models import classifier_for, is_loaded, load_classifier, model_choices, scored_chunks

LOADING = "Loading the model: the first request takes about 10 s, later ones a fraction of that."


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
        head, chunked = d[BASELINE] >= 0.5, d[chunked_setting] >= 0.5
        fixed = d[(head != truth) & (chunked == truth) & d["num_tokens"].between(700, 1500)]
        if len(fixed):
            gap = (fixed[BASELINE] - fixed[chunked_setting]).abs()
            examples.insert(1, fixed.loc[gap.idxmax(), "text"])
    return examples


@gpu
def classify(text: str, model: str, chunk_size, stride, minimal, pooling: str, boundaries: str = FIXED):
    """Demo and API handler: verdict markdown, per-chunk figure and shaded review; bad input becomes a message.

    boundaries: how chunks are cut: fixed windows, at sentence boundaries, or a truncation (head, tail, head+tail).
    """
    empty = (None, "")
    if not model:
        return ("No model is configured: set LONGBERT_MODEL to a model directory or Hub id.", *empty)
    if not text or not text.strip():
        return ("Paste a review (or pick an example) to classify it.", *empty)
    if len(text) > config.MAX_CHARS:
        return (f"This text has {len(text):,} characters; the limit here is {config.MAX_CHARS:,}.", *empty)
    try:
        classifier = classifier_for(model)
        strategy = demo_strategy(boundaries, chunk_size, stride, minimal, clamp=False)[0]  # the API: no clamping
        strategy.validate(classifier.max_chunk_size)
        head_strategy = Truncation(min(HEAD.head, classifier.max_chunk_size), 0)
        start = time.perf_counter()
        encoded, chunks, scores = scored_chunks(model, text, strategy)
        if scores is None:
            fits = smallest_stride(strategy, encoded[0], config.MAX_CHUNKS) if isinstance(strategy, Chunking) else None
            return (views.too_many_chunks(len(encoded[0]), len(chunks), config.MAX_CHUNKS, fits), *empty)
        (prediction,) = classifier.pool(scores, encoded, pooling)
        head_encoded, _, head_scores = scored_chunks(model, text, head_strategy)
        (head,) = classifier.pool(head_scores, head_encoded, "mean")
        seconds = time.perf_counter() - start
    except LongbertError as error:
        return (f"**Error:** {error}", *empty)
    verdict = views.verdict(prediction, head, head_strategy.head, pooling, seconds)
    if not prediction.chunks:
        return (verdict, *empty)
    shades, meaning = views.chunk_shades(prediction, classifier.labels)
    return (
        verdict,
        views.prediction_figure(prediction, classifier.labels, pooling, classifier.task.threshold),
        views.shaded_text(text, prediction, shades, meaning),
    )


def demo(text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str = FIXED):
    """The demo's handler: classify() with stride and minimal_chunk_size clamped in the same request (the sliders
    are set to the clamped values in its answer), so dragging chunk_size never races a second handler."""
    try:
        _, stride_used, minimal_used, note = demo_strategy(cut, chunk_size, stride, minimal)
    except LongbertError:  # classify() says what is wrong
        stride_used, minimal_used, note = stride, minimal, ""
    verdict, chart, shaded = classify(text, model, chunk_size, stride_used, minimal_used, pooling, cut)
    moved = [
        gr.update(value=new) if new != old else gr.update()
        for new, old in ((stride_used, stride), (minimal_used, minimal))
    ]
    return (verdict + (f"  \n_({note})_" if note else ""), chart, shaded, *moved)


def demo_live(text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str = FIXED):
    """demo(), first saying that the model is loading where this is its first use."""
    if model and not is_loaded(model) and model in model_choices() and text and text.strip():
        yield (LOADING, gr.update(), gr.update(), gr.update(), gr.update())
    yield demo(text, model, chunk_size, stride, minimal, pooling, cut)


def demo_b(text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str, on: bool):
    """Setting B's verdict and chart, when compare mode is on (else nothing changes)."""
    if not on:
        return gr.update(), gr.update(), gr.update(), gr.update()
    verdict, chart, _, stride_update, minimal_update = demo(text, model, chunk_size, stride, minimal, pooling, cut)
    return verdict, chart, stride_update, minimal_update


def preload() -> None:
    """Load the default model in the background at start and score the examples with the default setting (as
    Gradio's cache_examples would), so the first visitor rarely waits; a model that fails to load says so on the
    first request instead."""

    def load(model: str) -> None:
        with contextlib.suppress(Exception):
            load_classifier(model)
            top = CHUNK_RANGE[1]
            for example in example_reviews():
                classify(views.readable(example), model, top, top, 1, "mean")

    if models := model_choices():
        threading.Thread(target=load, args=(models[0],), daemon=True).start()
