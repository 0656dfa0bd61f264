"""The demo's Explain: which sentences drove a verdict (longbert.evidence), as shaded sentences and two top-5 lists.

An explanation is asked for with its button (it costs about one chunk pass per sentence), is costed before any
scoring and refused over LONGBERT_EXPLAIN_TOKENS with the time it would take, reuses the chunk scores of the
verdict it explains, and is kept for a changed pooling; a newer Explain of the same page and setting stops it.
"""

from __future__ import annotations

import functools
import html
import json
import re
import time

import gradio as gr
import numpy as np
import torch

from longbert import LongbertError
from longbert.errors import Stopped
from longbert.evidence import Explanation, Occlusions, explained, occlusions
from longbert.scoring import tokens_scored
from ui import budget, config, views
from ui.config import gpu
from ui.controls import FIXED, demo_strategy
from ui.demo import REPLACED, default_model, superseding
from ui.models import Kept, chunked, classifier_for, is_scored, scored

TOP = 5
KEPT = 8
_occluded = Kept(KEPT)  # (model, text, strategy) -> the occluded chunks' logits


def forget() -> None:
    """Drop the kept explanations, so the next one is computed afresh."""
    _plan.cache_clear()
    _occluded.clear()


def _diverging(share: float) -> str:
    """Blue for a push up (share > 0), orange for a push down, white at 0; share in [-1, 1]."""
    rgb = (59, 111, 182) if share > 0 else (224, 123, 57)
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {0.7 * abs(share):.2f})"


def shown_effects(explanation: Explanation) -> tuple[np.ndarray, str, str, str]:
    """(one effect per sentence, what it is the effect on, what up means, what down means): P(class 1) for two
    classes, else the task's headline output (the verdict's class, the most probable label, the value)."""
    prediction, task = explanation.prediction, explanation.prediction.task
    labels = task.labels
    if task.activation == "softmax" and len(labels) == 2:
        return explanation.effects[:, 1], f"P({labels[1]})", f"toward {labels[1]}", f"toward {labels[0]}"
    if task.values:
        return explanation.headline(), "the value", "raising the value", "lowering it"
    if task.activation == "sigmoid":
        top = labels[int(np.argmax(prediction.probabilities))]
        return explanation.headline(), f"P({top})", f"toward {top}", f"away from {top}"
    return explanation.headline(), f"P({prediction.label})", f"toward {prediction.label}", "away from it"


def points(effect: float, values: bool) -> str:
    """An effect in points of probability, to 0.1 or two significant digits below that (or in the value's units)."""
    if values:
        return f"{effect:+.3g}"
    return f"{100 * effect:+.1f} pts" if abs(effect) >= 0.001 or effect == 0 else f"{100 * effect:+.2g} pts"


def evidence_view(text: str, explanation: Explanation, setting: str, slot: str | None = None) -> str:
    """HTML: the review with each sentence shaded by its effect (a diverging scale centred on 0, the strongest
    sentence at full colour), and the sentences that push hardest each way; setting names the strategy and pooling
    (its last word)."""
    effect, on, up, down = shown_effects(explanation)
    values = explanation.prediction.task.values
    spans = explanation.spans
    if not spans:
        return "<p>The review has no sentences to explain.</p>"
    scale = float(np.abs(effect).max()) or 1.0
    parts, at = [], 0
    for (start, end), e in zip(spans, effect):
        parts.append(html.escape(views.readable(text[at:start])))
        title = f"{points(e, values)} on {on}"
        style = f"background:{_diverging(e / scale)}" if e else ""
        parts.append(f'<span title="{html.escape(title)}" style="{style}">'
                     f"{html.escape(views.readable(text[start:end]))}</span>")  # fmt: skip
        at = end
    parts.append(html.escape(views.readable(text[at:])))
    stops = "".join(f'<span style="background:{_diverging(s)};padding:2px 6px">{points(s * scale, values)}</span>'
                    for s in (-1, -0.5, 0, 0.5, 1))  # fmt: skip
    title = f"{slot}: " if slot else ""
    zero = int((effect == 0).sum())
    said = explanation.prediction.task.words(explanation.prediction)[0]
    notes = [f"<b>{title}Why {html.escape(said)}</b> ({html.escape(setting)}): each sentence's effect on "
             f"{html.escape(on)}, found by taking it out and scoring again only the chunks that held it "
             f"({explanation.rescored:,} chunks)."]  # fmt: skip
    if setting.endswith(" max") and zero:
        notes.append(f"Under max pooling only the winning chunk's sentences move the answer: {zero} of "
                     f"{len(spans)} sentences have effect 0.")  # fmt: skip
    lists = []
    for name, picked in ((up, [j for j in np.argsort(-effect, kind="stable") if effect[j] > 0][:TOP]),
                         (down, [j for j in np.argsort(effect, kind="stable") if effect[j] < 0][:TOP])):  # fmt: skip
        items = "".join(f"<li><b>{points(effect[j], values)}</b> {html.escape(_short(text[slice(*spans[j])]))}</li>"
                        for j in picked) or "<li>none</li>"  # fmt: skip
        lists.append(f'<div style="flex:1 1 280px;min-width:0"><b>Pushing hardest {html.escape(name)}</b>'
                     f'<ol style="margin:4px 0 0 1.2em">{items}</ol></div>')  # fmt: skip
    legend = f'<div style="font-size:0.85em;margin:4px 0">Shading: effect on {html.escape(on)} {stops}</div>'
    return (
        f'<div class="longbert-evidence"><p style="margin:4px 0">{" ".join(notes)}</p>'
        f'<div style="display:flex;flex-wrap:wrap;gap:12px;margin:6px 0">{"".join(lists)}</div>{legend}'
        f'<div style="white-space:pre-wrap;line-height:1.6;max-height:420px;overflow-y:auto;overflow-wrap:anywhere">'
        f"{''.join(parts)}</div></div>"
    )


def message(text: str) -> str:
    """A line of text for the evidence view (it is HTML)."""
    return f'<p class="longbert-evidence-message">{html.escape(text)}</p>'


def _short(sentence: str, most: int = 160) -> str:
    """A sentence as read (markup out), on one line, cut to at most `most` characters."""
    sentence = " ".join(views.readable(sentence).split())
    return sentence if len(sentence) <= most else sentence[: most - 1] + "…"


@functools.lru_cache(maxsize=KEPT)
def _plan(model: str, text: str, strategy) -> tuple[list, Occlusions]:
    """(encoded with sentence starts, the occlusions of the review's chunks) under a strategy: kept, since the cost
    is counted from it and the scoring then uses it."""
    classifier = classifier_for(model)
    encoded = classifier.encode([text], sentences=True)
    return encoded, occlusions(encoded, chunked(model, text, strategy)[1])


def explanation_tokens(model: str, text: str, strategy) -> int:
    """What explaining the review costs here: its occluded chunks, and its chunks if not scored yet."""
    classifier = classifier_for(model)
    tokens = 0 if (model, text, strategy) in _occluded else _plan(model, text, strategy)[1].cost(classifier.special)
    if not is_scored(model, text, strategy):
        tokens += tokens_scored(chunked(model, text, strategy)[1], classifier.special)
    return tokens


@gpu
def explain(text: str, model: str, chunk_size, stride, minimal, pooling: str, boundaries: str = FIXED,
            key: tuple | None = None, slot: str | None = None) -> tuple[str, dict | None]:  # fmt: skip
    """The evidence view and the evidence as JSON (the task's answer and evidence: [{span, effect}]) of a review
    under one setting; bad input or an explanation over its budget is a message and no JSON. key: who a newer
    Explain replaces; slot: B's title in compare mode."""
    if not model:
        return message("No model is configured."), None
    if not isinstance(text, str) or not text.strip():
        return message("Paste a review (or pick an example) to explain its verdict."), None
    if len(text) > config.MAX_CHARS:
        return message(f"This text has {len(text):,} characters; the limit here is {config.MAX_CHARS:,}."), None
    try:
        classifier = classifier_for(model, key[0] if key else None)
        strategy = demo_strategy(boundaries, chunk_size, stride, minimal)
        strategy.validate(classifier.max_chunk_size)
        tokens = explanation_tokens(model, text, strategy)
        if tokens > config.EXPLAIN_TOKENS:
            advice = "a smaller chunk_size costs less (each sentence scores its chunk again)."
            return message(budget.refusal(tokens, config.EXPLAIN_TOKENS, "explanation", advice)), None
        start = time.perf_counter()
        with superseding(key) as meter, budget.PRIORITY.demo():
            full = scored(model, text, strategy, meter)
            logits = occluded(model, text, strategy, meter)
        seconds = time.perf_counter() - start
        budget.RATE.observe(meter.done, seconds)
        encoded, plan = _plan(model, text, strategy)
        (explanation,) = explained(classifier, encoded, full, plan, logits, pooling)
    except Stopped:
        return REPLACED, None
    except LongbertError as error:
        return message(f"Error: {error}"), None
    view = evidence_view(text, explanation, f"{strategy.name}, {pooling}", slot)
    took = views.timing(seconds, meter.done, classifier.engine)
    timing = f'<p style="font-size:0.85em;color:#666">{meter.done:,} tokens scored, {took}.</p>'
    record = explanation.prediction.task.record(explanation.prediction) | {"evidence": explanation.records()}
    return view + timing, record


def occluded(model: str, text: str, strategy, meter) -> torch.Tensor:
    """The occluded chunks' logits of a review (its _plan), kept for the last KEPT explanations."""
    key = (model, text, strategy)
    if (kept := _occluded.get(key)) is not None:
        return kept
    classifier = classifier_for(model)
    plan = _plan(model, text, strategy)[1]
    return _occluded.put(key, classifier.score(plan.chunks, classifier.scorer_with(meter=meter)).logits)


def explain_a(text: str, model: str, chunk_size, stride, minimal, pooling: str, boundaries: str = FIXED,
              request: gr.Request = None) -> tuple[str, dict | None]:  # fmt: skip
    """The Explain button (setting A) and the API's explain: explain(), a newer click of the page replacing it."""
    key = (getattr(request, "session_hash", None) or "direct", "explain A")
    view, record = explain(text, model, chunk_size, stride, minimal, pooling, boundaries, key)
    return (gr.update(), gr.update()) if view == REPLACED else (view, record)


def explain_b(text: str, model: str, chunk_size, stride, minimal, pooling: str, boundaries: str, on: bool,
              request: gr.Request = None) -> str:  # fmt: skip
    """The Explain button for setting B in compare mode (nothing otherwise): B's verdict explained, titled B."""
    if not on:
        return ""
    key = (getattr(request, "session_hash", None) or "direct", "explain B")
    view, _ = explain(text, model, chunk_size, stride, minimal, pooling, boundaries, key, "B")
    return gr.update() if view == REPLACED else view


def explain_text(text: str, chunk_size: int = 510, stride: int = 510, minimal_chunk_size: int = 1,
                 pooling: str = "mean") -> str:  # fmt: skip
    """Explain why this app's default model gives a text of any length its label: each sentence's effect on the
    answer, found by taking the sentence out and scoring again only the chunks that held it. Costs about one chunk
    pass per sentence; requests over the explanation budget are refused with what they would cost.

    Args:
        text: the text to explain, of any length up to the app's character limit.
        chunk_size: tokens per chunk, 16 to 510 (smaller chunks cost less to explain).
        stride: tokens between chunk starts, 1 to chunk_size.
        minimal_chunk_size: a last chunk shorter than this is dropped, 1 to chunk_size.
        pooling: how chunk probabilities become one answer: mean, max, logit_mean, median or weighted_mean.

    Returns:
        JSON: the label, the probability of each class and "evidence": one entry per sentence in text order, its
        character span [start, end] and its effect on the chosen class's probability (positive: it pushed toward the
        label); or {"error": one line saying why not}.
    """
    view, record = explain(text, default_model(), chunk_size, stride, minimal_chunk_size, pooling)
    if record is None:
        return json.dumps({"error": html.unescape(re.sub(r"<[^>]+>", "", view)).strip()})
    return json.dumps(record)
