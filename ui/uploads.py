"""A visitor's labelled file (CSV, JSON lines or parquet): taken only from Gradio's upload folder, read within the
size limit, its text and label columns guessed from its own columns, and its labels read through the model's task
before any scoring: every bad file is one line, and nothing is scored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from longbert import LongbertError
from longbert.data import balanced_sample, fit_labels, labelled, read_table
from longbert.tasks import Task
from ui import config

TEXT_GUESSES = ("text", "review", "body", "document", "content")
LABEL_GUESSES = ("label", "labels", "sentiment", "score", "rating", "target")


@dataclass(frozen=True)
class Upload:
    """An uploaded file: where the server holds it, and its name as the visitor knows it."""

    path: Path
    name: str


def upload_of(file, from_page: bool = True) -> Upload:
    """The file a handler was given (Gradio's file data, a dict of it, or a path). Through the server (from_page),
    only a file in Gradio's upload folder is taken: an API client can't name any other file on the server."""
    if file is None or file == "":
        raise LongbertError("upload a labelled file first (CSV, JSON lines or parquet)")
    if isinstance(file, dict):
        path, name = file.get("path"), file.get("orig_name")
    else:
        path, name = getattr(file, "path", file), getattr(file, "orig_name", None)
    if not isinstance(path, str | Path) or not str(path):
        raise LongbertError("upload a labelled file first (CSV, JSON lines or parquet)")
    path = Path(path).resolve()
    if from_page:
        from gradio.utils import get_upload_folder

        if not path.is_relative_to(Path(get_upload_folder()).resolve()):
            raise LongbertError("that file was not uploaded here: upload it")
    return Upload(path, Path(str(name or path.name)).name)


def read_upload(upload: Upload) -> pd.DataFrame:
    """The file's table as it is, or one line: too large, not UTF-8, not the format its name says, no rows."""
    if not upload.path.is_file():
        raise LongbertError(f"{upload.name} is gone from the server (files are kept an hour): upload it again")
    size_mb = upload.path.stat().st_size / 2**20
    if size_mb > config.MAX_UPLOAD_MB:
        raise LongbertError(f"{upload.name} is {size_mb:,.1f} MB; the limit here is {config.MAX_UPLOAD_MB:g} MB")
    table = read_table(upload.path, upload.name)
    if not len(table):
        raise LongbertError(f"{upload.name} has no rows")
    return table


def guess(columns: list[str], guesses: tuple[str, ...], other: str | None = None) -> str | None:
    """The first column named like one of the guesses (whatever the case), else the first column that is not
    `other`."""
    by_case = {str(c).casefold(): c for c in columns}
    for name in guesses:
        if name in by_case and by_case[name] != other:
            return by_case[name]
    return next((c for c in columns if c != other), None)


def columns_of(upload: Upload) -> tuple[list[str], str | None, str | None, int]:
    """The file's columns, the guessed text and label columns, and its rows."""
    table = read_upload(upload)
    columns = [str(c) for c in table.columns]
    text = guess(columns, TEXT_GUESSES)
    return columns, text, guess(columns, LABEL_GUESSES, other=text), len(table)


def labelled_rows(upload: Upload, text_column, label_column, task: Task, rows: int, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of at most `rows` rows (label-balanced where labels are classes, as `python -m eval --limit`
    draws it) with `text` and `label` columns, its labels fitted to the task; one line where it can't be."""
    for name, column in (("text", text_column), ("label", label_column)):
        if not isinstance(column, str) or not column:
            raise LongbertError(f"choose the file's {name} column")
    if text_column == label_column:
        raise LongbertError(f"the text and label columns are both {text_column!r}: choose two columns")
    frame = labelled(read_upload(upload), text_column, label_column, upload.name)
    frame = fit_labels(frame, task, label_column)
    return balanced_sample(frame, min(rows, len(frame)), seed)
