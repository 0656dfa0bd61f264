"""Reading texts to classify, one reader for every command: .txt (a file is one text), JSON lines (.jsonl or .json:
an object a line), .csv and .parquet (a text column); one file, or a directory of files of one format; stdin.

Rows stream in file and row order as (id, text, where): `where` names the row for messages ("r.jsonl line 3", lines
numbered from 1 as editors do; "row 0", CSV and parquet rows numbered from 0 as ids and review_id are). A null
text (JSON null, a parquet null, an empty CSV field) is no text in every format: refused by `longbert predict`,
reported in a collection's error column.
A row that cannot be read (invalid JSON, bytes that are not UTF-8) has a BadRow for its text, so a collection
reports it in its error column while `longbert predict` refuses the whole input before any output.
.txt and JSON lines need nothing beyond Python; CSV and parquet stream through pyarrow (the io extra).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from longbert.encoding import check_text
from longbert.errors import LongbertError, first_line

FORMATS = {".txt": "text", ".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
STDIN_MODES = ("auto", "jsonl", "text")


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read: why not."""

    reason: str


def pyarrow_module():
    """pyarrow with its dataset and parquet modules, or one line saying how to install it."""
    try:
        import pyarrow
        import pyarrow.csv
        import pyarrow.dataset
        import pyarrow.parquet
    except ImportError:
        raise LongbertError("CSV, parquet and --output need pyarrow: pip install pyarrow (or longbert[io])") from None
    return pyarrow


def input_files(path: str | Path) -> list[Path]:
    """The input: one file, or every .txt / JSON lines / CSV / parquet file of a directory (sorted, one format)."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in FORMATS and not p.name.startswith("."))
    else:
        raise LongbertError(f"no such file or directory: {path}")
    if not files or any(p.suffix not in FORMATS for p in files):
        raise LongbertError(f"{path}: expected .txt, .jsonl, .csv or .parquet files")
    if len({FORMATS[p.suffix] for p in files}) > 1:
        raise LongbertError(f"{path} mixes formats: give one of text, JSON lines, CSV or parquet")
    return files


def rows(files: Sequence[Path], text_column: str = "text", id_column: str | None = None) -> Iterator[tuple]:
    """(id, text or BadRow, where) of every row; the id is None without id_column."""
    kind = FORMATS[files[0].suffix]
    if kind == "text":
        if id_column:
            raise LongbertError("--id-column does not apply to .txt files: each file is one text")
        for path in files:
            yield None, decoded(path.read_bytes(), str(path)), str(path)
    elif kind == "json":
        for path in files:
            with path.open("rb") as lines:
                yield from json_rows(lines, str(path), text_column, id_column)
    else:
        yield from _arrow_rows(files, text_column, id_column)


def decoded(data: bytes, source: str) -> str | BadRow:
    """UTF-8 bytes as text, or a BadRow saying where they are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        return BadRow(f"{source} is not UTF-8 text: {error.reason} at byte {error.start}")


def json_rows(lines: Iterable[bytes], source: str, text_column: str, id_column: str | None = None) -> Iterator[tuple]:
    """(id, text, where) of each non-blank JSON line; a line that is not a JSON object gives a BadRow."""
    for number, raw in enumerate(lines, 1):
        where = f"{source} line {number}"
        line = decoded(raw, where)
        if isinstance(line, BadRow):
            yield None, line, where
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            yield None, BadRow(f"{where}: not valid JSON ({error.msg})"), where
            continue
        if not isinstance(record, dict):
            yield None, BadRow(f'{where}: expected an object with a string "{text_column}" field'), where
            continue
        if id_column and id_column not in record:
            raise LongbertError(f"{where} has no {id_column!r} field (--id-column)")
        yield record.get(id_column) if id_column else None, record.get(text_column), where


def _arrow_rows(files: Sequence[Path], text_column: str, id_column: str | None, batch_rows: int = 1_000):
    pa = pyarrow_module()
    try:
        kind = FORMATS[files[0].suffix]
        if kind == "csv":  # an empty field is no text, as a null is in parquet (and pandas reads it so)
            kind = pa.dataset.CsvFileFormat(convert_options=pa.csv.ConvertOptions(strings_can_be_null=True))
        dataset = pa.dataset.dataset([str(f) for f in files], format=kind)
        columns = [text_column] + ([id_column] if id_column else [])
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise LongbertError(f"the input has no column {missing[0]!r} (it has {', '.join(dataset.schema.names)})")
        number = 0
        for batch in dataset.to_batches(columns=columns, batch_size=batch_rows, use_threads=False):
            texts = batch.column(text_column).to_pylist()
            ids = batch.column(id_column).to_pylist() if id_column else [None] * len(texts)
            for identifier, text in zip(ids, texts):
                yield identifier, text, f"row {number}"  # numbered from 0, as ids and evaluation's review_id are
                number += 1
    except pa.ArrowException as error:
        raise LongbertError(f"cannot read the input: {first_line(error)}") from error


def read_rows(files: Sequence[Path], text_column: str, id_column: str | None, batch_rows: int) -> Iterator[tuple]:
    """(first row number, ids, texts) batches of at most batch_rows; without id_column an id is its row number."""
    ids: list = []
    texts: list = []
    start = 0
    for number, (identifier, text, _) in enumerate(rows(files, text_column, id_column)):
        ids.append(number if id_column is None else identifier)
        texts.append(text)
        if len(ids) == batch_rows:
            yield start, ids, texts
            start, ids, texts = start + len(ids), [], []
    if ids:
        yield start, ids, texts


def is_null(value: object) -> bool:
    """A missing text: None, or NaN (what pandas writes for one)."""
    return value is None or (isinstance(value, float) and value != value)


def problem(text: object, where: str) -> str | None:
    """None if the text can be classified, else why not (a collection row's error)."""
    if isinstance(text, BadRow):
        return text.reason
    if is_null(text):
        return "no text"
    try:
        check_text(text, where)
    except LongbertError as error:
        return str(error)
    return None


def read_texts(paths: Sequence[str], text_column: str = "text") -> list[str]:
    """Every text of the inputs (files or directories), read and checked before any is classified, so bad input
    stops a run before its first output line."""
    return [text for name in paths for text in checked(rows(input_files(name), text_column), text_column)]


def checked(found: Iterable[tuple], text_column: str) -> Iterator[str]:
    """The texts of rows, or one LongbertError line at the first that is not a text."""
    for _, text, where in found:
        if isinstance(text, BadRow):
            raise LongbertError(text.reason)
        if is_null(text):
            raise LongbertError(f'{where}: expected an object with a string "{text_column}" field: no text (missing '
                                "or null)")  # fmt: skip
        if not isinstance(text, str):
            raise LongbertError(f'{where}: expected an object with a string "{text_column}" field')
        yield check_text(text, where)


def read_stdin(data: bytes, mode: str = "auto", text_column: str = "text") -> list[str]:
    """Standard input as texts. mode jsonl: a JSON object with a text field a line; text: all of it is one text;
    auto: JSON lines if the first non-blank line is a JSON object, else one plain text."""
    if mode not in STDIN_MODES:
        raise LongbertError(f"--stdin must be one of {', '.join(STDIN_MODES)}, got {mode!r}")
    text = decoded(data, "stdin")
    if isinstance(text, BadRow):
        raise LongbertError(text.reason)
    if mode == "auto":
        first = next((line for line in text.splitlines() if line.strip()), "")
        try:
            mode = "jsonl" if isinstance(json.loads(first), dict) else "text"
        except json.JSONDecodeError:
            mode = "text"
    if mode == "text":
        return [check_text(text, "stdin")]
    return list(checked(json_rows(data.splitlines(), "stdin", text_column), text_column))
