"""The true label of the reviews the page can show (the examples, the committed results' disagreements, the reviews
runs draw from, the rows of a visitor's own runs), keyed by the text as the review box holds it: the demo says the
truth wherever it is known."""

from __future__ import annotations

import contextlib
import functools

import pandas as pd

from longbert import LongbertError
from longbert.data import load_imdb
from longbert.digests import digest
from longbert.tasks import Task
from ui import dashboard, views, visitor
from ui.config import review_source


def key(text: str) -> str:
    """A review's key: the digest of the text as the review box shows it, without surrounding blanks."""
    return digest([views.readable(text).strip().encode()])


@functools.lru_cache(maxsize=1)
def known_labels() -> dict[str, int]:
    """Class ids of every review the page can open: the bundled sample (the examples), the disagreements of the
    committed single-label results, and LONGBERT_IMDB's test reviews where it names them."""
    frames = [load_imdb("test", "sample")]
    for directory in dashboard.results_dirs():
        with contextlib.suppress(LongbertError, OSError, KeyError):
            results = dashboard.results_at(str(directory))
            if not results.task.values and results.task.activation == "softmax" and "text" in results.disagreements:
                frames.append(results.disagreements[["text", "label"]])
    if review_source() != "sample":
        with contextlib.suppress(LongbertError, OSError):
            frames.append(load_imdb("test", review_source()))
    reviews = pd.concat([f[["text", "label"]] for f in frames], ignore_index=True)
    return {key(text): int(label) for text, label in zip(reviews["text"], reviews["label"])}


def true_label(text: str, task: Task, session: str | None = None) -> str | None:
    """The review's true class by the task's name for it, where the page knows it (the session's own runs too) and
    the task has classes."""
    if task.values or task.activation != "softmax":
        return None
    label = visitor.truth_of(session, key(text)) if session else None
    label = known_labels().get(key(text)) if label is None else label
    return task.labels[label] if label is not None and 0 <= label < len(task.labels) else None
