"""IMDB reviews (Maas et al., 2011) for training and evaluation: a local parquet copy or the Hub's stanfordnlp/imdb.

Where the data comes from, first match wins: the `source` argument, $LONGBERT_IMDB, then the
Hub. A local source is a directory holding {split}.parquet with `text` and `label` columns.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from longbert.errors import LongbertError, first_line
from longbert.tasks import Task, label_targets

HUB_ID = "stanfordnlp/imdb"
SAMPLE = Path(__file__).parent / "data" / "imdb_test_sample.parquet"


def load_imdb(
    split: str = "test", source: str | Path | None = None, text_column: str = "text", label_column: str = "label"
) -> pd.DataFrame:
    """All reviews of a split as a DataFrame with `text` and `label` (0 negative, 1 positive) columns.

    A source that is a file is read as it is (its columns named by text_column and label_column).
    """
    if split not in ("train", "test"):
        raise LongbertError(f"unknown IMDB split {split!r}: use train or test")
    source = imdb_source(source)
    if source == "sample":
        return read_labelled(SAMPLE, text_column, label_column)
    path = Path(source).expanduser()
    if path.is_dir():
        return read_labelled(path / f"{split}.parquet", text_column, label_column)
    if path.is_file():
        return read_labelled(path, text_column, label_column)
    if source != HUB_ID:
        raise LongbertError(f"IMDB data not found: {source} is neither a directory of parquet files nor 'sample'")
    try:
        from datasets import load_dataset

        frame = load_dataset(HUB_ID, split=split).to_pandas()
    except Exception as error:  # datasets raises many types when the Hub is out of reach
        raise LongbertError(
            f"cannot load {HUB_ID} from the Hub ({first_line(error)}); point --data or $LONGBERT_IMDB at a local copy"
        ) from error
    return labelled(frame, text_column, label_column, HUB_ID)


def imdb_source(source: str | Path | None = None) -> str:
    """Where IMDB comes from: the source given, else $LONGBERT_IMDB, else the Hub id."""
    return str(source or os.environ.get("LONGBERT_IMDB") or HUB_ID)


def read_labelled(
    path: str | Path, text_column: str = "text", label_column: str = "label", shown: str | None = None
) -> pd.DataFrame:
    """A labelled-text file (parquet, CSV, JSON lines) as a DataFrame with `text` and `label` columns.

    Labels are kept as they are (integers, lists of labels, numbers): fit_labels reads them for a model's task.
    shown: the file's name in messages (an upload's, not the server's copy).
    """
    return labelled(read_table(path, shown), text_column, label_column, shown or str(path))


READERS = {".parquet": pd.read_parquet, ".csv": pd.read_csv, ".jsonl": lambda p: pd.read_json(p, lines=True)}


def read_table(path: str | Path, shown: str | None = None) -> pd.DataFrame:
    """A parquet, CSV or JSON lines file as it is, or one line saying why it cannot be read (named as `shown`)."""
    path = Path(path)
    name = shown or str(path)
    suffix = Path(name).suffix.lower() if shown else path.suffix
    if suffix not in READERS:
        raise LongbertError(f"{name}: expected a .parquet, .csv or .jsonl file")
    if not path.is_file():
        raise LongbertError(f"no such data file: {name}")
    try:
        return READERS[suffix](path)
    except UnicodeDecodeError as error:
        raise LongbertError(f"{name} is not UTF-8 text: {error.reason} at byte {error.start}") from None
    except Exception as error:  # pandas and pyarrow raise many types for one cause: the file is not what it says
        raise LongbertError(f"cannot read {name} as {suffix[1:]}: {first_line(error)}") from error


def labelled(frame: pd.DataFrame, text_column: str, label_column: str, where: str) -> pd.DataFrame:
    """frame with its text and label columns named `text` and `label` (other columns kept)."""
    missing = {text_column, label_column} - set(frame.columns)
    if missing:
        raise LongbertError(f"{where} has no column(s) {', '.join(sorted(missing))}")
    frame = frame.drop(columns=[c for c in ("text", "label") if c in frame and c not in (text_column, label_column)])
    return frame.rename(columns={text_column: "text", label_column: "label"}).reset_index(drop=True)


def fit_labels(frame: pd.DataFrame, task: Task, column: str = "label") -> pd.DataFrame:
    """frame (texts checked) with its labels read through the model's task (class names matched to its labels
    whatever their case, class ids in its range, lists of labels, or numbers) into the one form results keep; a
    label column that does not fit the model is one line naming the mismatch, before any scoring (and before any
    sampling, so the app and `python -m eval` draw the same sample)."""
    if not len(frame):
        raise LongbertError("there are no rows to evaluate")
    texts = frame["text"].map(lambda t: isinstance(t, str))
    if not texts.all():
        raise LongbertError(f"row {int((~texts).to_numpy().argmax())}: the text column holds no text")
    missing = frame["label"].isna() if frame["label"].dtype != object else frame["label"].map(_is_missing)
    if missing.any():
        raise LongbertError(f"row {int(missing.to_numpy().argmax())}: the {column} column is empty")
    try:
        _, _, targets = label_targets(frame["label"].tolist(), task.name, task.labels)
    except LongbertError as error:
        about = f"{task.short_name.replace('_', '-')}, labels {', '.join(task.labels)}"
        raise LongbertError(f"the {column} column does not fit the model ({about}): {error}") from None
    fitted = frame.copy()
    fitted["label"] = task.label_values(targets)
    if "review_id" not in fitted:  # each row's number in the file (from 0): how results name a row to open it again
        fitted["review_id"] = range(len(fitted))
    return fitted


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def balanced_sample(frame: pd.DataFrame, n: int | None, seed: int = 0) -> pd.DataFrame:
    """A seeded random sample of n rows with the labels as balanced as n allows (all rows, shuffled, if n is None)."""
    if n is None or n >= len(frame):
        return frame.sample(frac=1, random_state=seed).reset_index(drop=True)
    if n < 1:
        raise LongbertError(f"a sample needs at least one review, got {n}")
    if not pd.api.types.is_integer_dtype(frame["label"]):  # lists or numbers: a plain random sample
        return frame.sample(n, random_state=seed).reset_index(drop=True)
    groups = [group for _, group in frame.groupby("label")]
    share, extra = divmod(n, len(groups))
    parts = [g.sample(min(len(g), share + (i < extra)), random_state=seed) for i, g in enumerate(groups)]
    return pd.concat(parts).sample(frac=1, random_state=seed).reset_index(drop=True)


def length_sample(frame: pd.DataFrame, n: int, seed: int = 0, bins: int = 10) -> pd.DataFrame:
    """A seeded sample of n rows that keeps the frame's mix of labels and text-length deciles (stratified by both),
    so a sample's accuracy by length and its cost per review match the whole split's."""
    if n >= len(frame):
        return balanced_sample(frame, None, seed)
    if n < 2 * bins * frame["label"].nunique():
        raise LongbertError(
            f"a length-keeping sample needs at least {2 * bins * frame['label'].nunique()} rows, got {n}"
        )
    from sklearn.model_selection import train_test_split

    deciles = pd.qcut(frame["text"].str.len(), bins, labels=False, duplicates="drop")
    strata = frame["label"].astype(str) + "/" + deciles.astype(str)
    sample, _ = train_test_split(frame, train_size=n, stratify=strata, random_state=seed)
    return sample.reset_index(drop=True)
