"""The true label of the reviews the page can show (the examples, the committed results' disagreements, the reviews
runs draw from, the rows of a visitor's own runs), keyed by the text as the review box holds it: the demo says the
truth wherever it is known."""

from __future__ import annotations

import contextlib
import functools

import pandas as pd

from eval.results import Results
from longbert import LongbertError
from longbert.data import load_imdb
from longbert.digests import digest
from longbert.tasks import Task
from ui import dashboard, views, visitor
from ui.config import review_source


def key(text: str) -> str:
    """A review's key: the digest of the text as the review box shows it, without surrounding blanks."""
    return digest([views.readable(text).strip().encode()])


def has_classes(task: Task) -> bool:
    """Whether a task's outputs are one class each (single-label): the only kind with one true label to show."""
    return not task.values and task.activation == "softmax"


def labelled_rows(frame: pd.DataFrame) -> dict[str, tuple[int, int | None]]:
    """Key -> (class id, review_id or None) of a frame's reviews (text, label and, where it has one, review_id)."""
    ids = frame["review_id"] if "review_id" in frame else [None] * len(frame)
    return {key(t): (int(k), None if i is None else int(i)) for t, k, i in zip(frame["text"], frame["label"], ids)}


def set_labels(results: Results) -> dict[str, tuple[int, int | None]]:
    """The reviews of a single-label results set's disagreements (the ones the page can open), by key."""
    if not has_classes(results.task) or "text" not in results.disagreements:
        return {}
    return labelled_rows(results.disagreements)


@functools.lru_cache(maxsize=1)
def known_labels() -> dict[str, tuple[int, int | None]]:
    """Class id and review_id of every review the page can open, by key: the bundled sample (the examples), the
    disagreements of the committed single-label results, and LONGBERT_IMDB's test reviews where it names them."""
    known = labelled_rows(load_imdb("test", "sample"))
    for directory in dashboard.results_dirs():
        with contextlib.suppress(LongbertError, OSError, KeyError):
            known |= set_labels(dashboard.results_at(str(directory)))
    if review_source() != "sample":
        with contextlib.suppress(LongbertError, OSError):
            known |= labelled_rows(load_imdb("test", review_source()))
    return known


def true_label(text: str, task: Task, session: str | None = None) -> str | None:
    """The review's true class by the task's name for it, where the page knows it (the session's own runs too) and
    the task has classes."""
    if not has_classes(task):
        return None
    label = visitor.truth_of(session, key(text)) if session else None
    label = known_labels().get(key(text), (None,))[0] if label is None else label
    return task.labels[label] if label is not None and 0 <= label < len(task.labels) else None
