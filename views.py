"""HTML and text views for the app: the review shaded by chunk probability, and the verdict line."""

from __future__ import annotations

import html
import itertools

from longbert import Prediction


def _color(positive: float) -> str:
    """Orange (negative) through white to blue (positive)."""
    strength = abs(positive - 0.5) * 2
    rgb = (59, 111, 182) if positive >= 0.5 else (224, 123, 57)
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {0.12 + 0.5 * strength:.2f})"


def shaded_text(text: str, prediction: Prediction, positive_index: int = 1) -> str:
    """The text with each stretch shaded by the mean positive probability of the chunks that cover it.

    Overlapping chunks share a stretch, which gets their mean and a tooltip naming them; text in
    no chunk (a dropped short tail, or the middle under head+tail truncation) stays unshaded.
    """
    cuts = {0, len(text)}
    for chunk in prediction.chunks:
        for start, end in chunk.spans:
            cuts.update((start, end))
    bounds = sorted(cuts)
    parts = []
    for start, end in itertools.pairwise(bounds):
        covering = [
            (i, c.probabilities[positive_index])
            for i, c in enumerate(prediction.chunks)
            if any(s <= start and end <= e for s, e in c.spans)
        ]
        piece = html.escape(text[start:end])
        if not covering:
            parts.append(f'<span style="color:#888">{piece}</span>')
            continue
        mean = sum(p for _, p in covering) / len(covering)
        names = ", ".join(str(i + 1) for i, _ in covering)
        title = f"chunk{'s' if len(covering) > 1 else ''} {names}: P(positive) = {mean:.3f}"
        parts.append(f'<span title="{title}" style="background:{_color(mean)}">{piece}</span>')
    body = "".join(parts)
    return f'<div style="white-space:pre-wrap;line-height:1.6;max-height:420px;overflow-y:auto">{body}</div>'


def verdict(prediction: Prediction, head: Prediction, labels: list[str], pooling: str, seconds: float) -> str:
    """Markdown: the chunked verdict, the head-truncation verdict beside it, counts and time."""
    if prediction.label is None:
        return "The review has no words to classify: paste some text."
    top = max(prediction.probabilities)
    agree = "agrees" if head.label == prediction.label else "**disagrees**"
    return (
        f"### {prediction.label} ({top:.1%}, {pooling} of {len(prediction.chunks)} chunk"
        f"{'s' if len(prediction.chunks) != 1 else ''})\n"
        f"Head truncation (first 510 tokens) says **{head.label}** ({max(head.probabilities):.1%}): it {agree}.  \n"
        f"{prediction.num_tokens:,} tokens, {seconds * 1000:.0f} ms."
    )
