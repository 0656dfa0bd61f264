"""Views of one prediction for the app: the review shaded by chunk, the verdict line, and the per-chunk chart.

Display is where task types still show: the chart and the shading draw probabilities per class or label, or
values (Task.values); the words of an answer come from the task (Task.words).
"""

from __future__ import annotations

import bisect
import html
import itertools
import re

import plotly.graph_objects as go

from eval.figures import BLUE, GREY, ORANGE
from longbert import Prediction
from longbert.encoding import MARKUP
from longbert.pooling import TWO_CLASS_POOLING
from longbert.tasks import first_output, probability_text


def _color(positive: float) -> str:
    """Orange (negative) through white to blue (positive)."""
    strength = abs(positive - 0.5) * 2
    rgb = (59, 111, 182) if positive >= 0.5 else (224, 123, 57)
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {0.12 + 0.5 * strength:.2f})"


def chunk_shades(prediction: Prediction, labels: list[str]) -> tuple[list[float], str]:
    """Each chunk's shade in [0, 1] and what it means: P(positive class) for two classes, the top label's
    probability for multi-label and for more classes, the value scaled between the text's lowest and highest
    chunk for regression."""
    chunks, task = prediction.chunks, prediction.task
    if task.values:
        values = [first_output(c.value) for c in chunks]
        low, high = min(values, default=0.0), max(values, default=0.0)
        return [0.5 if high == low else (v - low) / (high - low) for v in values], "value, scaled low to high"
    if task.activation == "softmax" and len(labels) == 2:
        return [c.probabilities[1] for c in chunks], f"P({labels[1]})"
    return [max(c.probabilities) for c in chunks], "top label's probability"


BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


C1 = re.compile("[\x80-\x9f]")


def windows_1252(match: re.Match) -> str:
    """A C1 control character as the Windows-1252 character it stood for (0x97 an em dash, 0x85 an ellipsis);
    nothing for the five codes Windows-1252 leaves undefined."""
    try:
        return match.group().encode("latin-1").decode("cp1252")
    except UnicodeDecodeError:
        return ""


def readable(text: str) -> str:
    """Text as a person reads it: HTML line breaks as line breaks, other tags (those encoding blanks) removed, and
    Windows-1252 characters that were read as Latin-1 (IMDB's \\x97, \\x96, \\x85) shown as the characters they are."""
    return C1.sub(windows_1252, MARKUP.sub("", BREAK.sub("\n", text)))


def shading_legend(meaning: str, setting: str | None = None) -> str:
    """HTML: what the shading of the review means (under which setting, where given), as a colour scale, and that
    grey text lies in no chunk."""
    stops = "".join(f'<span style="background:{_color(p)};padding:2px 6px">{p:.1f}</span>' for p in
                    (0.0, 0.25, 0.5, 0.75, 1.0))  # fmt: skip
    under = f" ({html.escape(setting)})" if setting else ""
    return (f'<div style="font-size:0.85em;margin:4px 0">Shading{under}: {html.escape(meaning)} of the chunks '
            f'covering the text {stops} <span style="color:#888">grey: in no chunk</span></div>')  # fmt: skip


def shaded_text(text: str, prediction: Prediction, shades: list[float], meaning: str,
                setting: str | None = None) -> str:  # fmt: skip
    """The text with each stretch shaded by the mean of the shades (chunk_shades) of the chunks that cover it.

    Overlapping chunks share a stretch, which gets their mean and a tooltip naming them; text in
    no chunk (a dropped short tail, or the middle under head+tail truncation) stays unshaded.
    """
    bounds = sorted({0, len(text), *(cut for c in prediction.chunks for span in c.spans for cut in span)})
    covers: list[list[tuple[int, float]]] = [[] for _ in bounds[1:]]
    for i, chunk in enumerate(prediction.chunks):
        for start, end in chunk.spans:
            for k in range(bisect.bisect_left(bounds, start), bisect.bisect_left(bounds, end)):
                covers[k].append((i, shades[i]))
    parts = []
    for (start, end), covering in zip(itertools.pairwise(bounds), covers, strict=True):
        piece = html.escape(readable(text[start:end]))
        if not covering:
            parts.append(f'<span style="color:#888">{piece}</span>')
            continue
        mean = sum(p for _, p in covering) / len(covering)
        names = ", ".join(str(i + 1) for i, _ in covering)
        title = f"chunk{'s' if len(covering) > 1 else ''} {names}: {meaning} = {mean:.3f}"
        parts.append(f'<span title="{title}" style="background:{_color(mean)}">{piece}</span>')
    body = "".join(parts)
    box = f'<div style="white-space:pre-wrap;line-height:1.6;max-height:420px;overflow-y:auto">{body}</div>'
    return shading_legend(meaning, setting) + box


def timing(seconds: float, tokens: int, engine: str) -> str:
    """How the answer was computed: its time and engine, or that it re-pooled chunk scores already computed."""
    if tokens == 0:
        return f"re-pooled from chunk scores already computed ({engine})"
    return f"{seconds * 1000:.0f} ms ({engine})"


def verdict(prediction: Prediction, head: Prediction, head_size: int, pooling: str, took: str,
            slot: str | None = None, truth: str | None = None) -> str:  # fmt: skip
    """Markdown: the chunked verdict (titled with its slot, A or B, in compare mode), the verdict of head truncation
    to head_size tokens beside it, the true label where it is known (each verdict marked right or wrong), what the
    pooling does to a two-class answer, counts and how it was computed (timing())."""
    if not prediction.chunks:
        return "The review has no words to classify: paste some text."
    (said, sure), (head_said, head_sure) = prediction.task.words(prediction), head.task.words(head)
    agree = "agrees" if head_said == said else "**disagrees**"

    def mark(answer: str) -> str:
        return "" if truth is None else " ✓" if answer == truth else " ✗"

    chunks = f"{len(prediction.chunks)} chunk{'s' if len(prediction.chunks) != 1 else ''}"
    lines = [
        f"### {f'{slot}: ' if slot else ''}{said}{mark(said)} ({sure}, {pooling} of {chunks})",
        f"Head truncation (first {head_size} tokens) says **{head_said}**{mark(head_said)} ({head_sure}): it {agree}.",
    ]
    if truth is not None:
        lines.append(f"True label: **{truth}** (from the IMDB test set).")
    labels = prediction.task.labels
    if prediction.task.activation == "softmax" and len(labels) == 2 and len(prediction.chunks) > 1:
        lines.append(f"_{TWO_CLASS_POOLING[pooling].format(negative=labels[0], positive=labels[1])}_")
    lines.append(f"{prediction.num_tokens:,} tokens, {took}.")
    return "  \n".join(lines[:1]) + "\n" + "  \n".join(lines[1:])


CATEGORY_CHUNKS = 40  # up to this many chunks the x-axis names each one; beyond, it is a number line with its own ticks


def chunk_axis(n: int) -> tuple[list, dict]:
    """x values and the x-axis for n chunks: a label per chunk when they fit, else chunk numbers on a linear axis
    (954 category labels overlap into a black band)."""
    if n <= CATEGORY_CHUNKS:
        return [str(i + 1) for i in range(n)], {"title": "chunk", "type": "category"}
    return list(range(1, n + 1)), {"title": "chunk", "type": "linear", "range": [0.5, n + 0.5]}


def chunk_figure(chunk_positive: list[float], pooled: float | None, pooling: str, label: str = "positive") -> go.Figure:
    """A bar per chunk from 0.5 to its P(label): up for evidence for the label, down against it, so a chunk at
    0.002 draws as long a bar as one at 0.998; the pooled value is a line labelled on the right, 0.5 on the left."""
    x, axis = chunk_axis(len(chunk_positive))
    figure = go.Figure(
        go.Bar(
            x=x,
            y=[p - 0.5 for p in chunk_positive],
            base=0.5,
            marker_color=[BLUE if p >= 0.5 else ORANGE for p in chunk_positive],
            customdata=[probability_text(p) for p in chunk_positive],
            hovertemplate="chunk %{x}: %{customdata}<extra></extra>",
        )
    )
    figure.add_hline(y=0.5, line_dash="dot", line_color=GREY, annotation_text="0.5", annotation_position="top left")
    if pooled is not None:
        below = "bottom right" if pooled >= 0.5 else "top right"
        figure.add_hline(y=pooled, line_color="black", annotation_text=f"{pooling}: {probability_text(pooled)}",
                         annotation_position=below)  # fmt: skip
    figure.update_layout(
        title=f"P({label}) per chunk (bars from 0.5)",
        xaxis=axis,
        yaxis={"title": f"P({label})", "range": [0, 1]},
        height=320,
        showlegend=False,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def prediction_figure(prediction, labels: list[str], pooling: str, threshold: float = 0.5) -> go.Figure:
    """One prediction's chunks as the task shows them: P(class 1) for two classes, the top class's probability
    for more, a bar per label (grouped) for multi-label, the value for regression; the pooled answer as a line."""
    chunks, task = prediction.chunks, prediction.task
    if task.values:
        values = [first_output(c.value) for c in chunks]
        pooled = first_output(prediction.value)
        x, axis = chunk_axis(len(values))
        figure = go.Figure(go.Bar(x=x, y=values, marker_color=BLUE,
                                  hovertemplate="chunk %{x}: %{y:.3f}<extra></extra>"))  # fmt: skip
        figure.add_hline(y=pooled, line_color="black", annotation_text=f"{pooling}: {pooled:.3f}")
        figure.update_layout(title="Value per chunk", xaxis=axis, height=320,
                             margin={"l": 10, "r": 10, "t": 50, "b": 40})  # fmt: skip
        return figure
    if task.activation == "sigmoid":
        x, axis = chunk_axis(len(chunks))
        figure = go.Figure([
            go.Bar(name=label, x=x, y=[c.probabilities[j] for c in chunks],
                   hovertemplate=f"{label}, chunk %{{x}}: %{{y:.3f}}<extra></extra>")
            for j, label in enumerate(labels)
        ])  # fmt: skip
        figure.add_hline(y=threshold, line_dash="dot", line_color=GREY, annotation_text=f"threshold {threshold:g}")
        figure.update_layout(title="P(label) per chunk", barmode="group", yaxis={"range": [0, 1]}, height=340,
                             xaxis=axis, legend={"orientation": "h", "y": -0.25},
                             margin={"l": 10, "r": 10, "t": 50, "b": 40})  # fmt: skip
        return figure
    if len(labels) == 2:
        return chunk_figure([c.probabilities[1] for c in chunks], prediction.probabilities[1], pooling, labels[1])
    return chunk_figure([max(c.probabilities) for c in chunks], None, pooling, "top class")
