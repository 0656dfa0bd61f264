"""Score a collection of documents: any input longbert.inputs reads (a file or a directory of them), parquet out.

The input streams through in batches, so memory stays bounded for any size. The output is a
directory of parts, each holding a fixed range of input rows (`part-00000.parquet` rows
0..part_rows-1, and so on), each written whole and renamed into place; `_settings.json` says what
made them and `_manifest.json`, written last, lists them. A run that is killed and started again
with the same command keeps the finished parts and computes only the others: no row is lost or
written twice. A row without a string text is reported with its id in the `error` column and does
not stop the others. Needs pyarrow (the `io` extra; `ray`, `eval` and `train` bring it too).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from longbert.digests import file_digest, rows_digest
from longbert.errors import LongbertError
from longbert.files import write_atomic, write_text_atomic
from longbert.inputs import input_files, problem, pyarrow_module, read_rows, rows

SETTINGS, MANIFEST, PARTS = "_settings.json", "_manifest.json", "_parts.json"
SHOWN_DUPLICATES = 3


@dataclass(frozen=True)
class Job:
    """What decides a collection's outputs: a rerun with another job refuses to mix its parts in. input and weights
    are digests (longbert.digests) of the input files' names and the model's weights: a retrained model under the
    same name is another job; a changed row redoes its part (each part records its rows' digest)."""

    model: str
    strategy: str
    pooling: str
    text_column: str = "text"
    id_column: str | None = None
    chunks: bool = False
    part_rows: int = 2_000
    input: str = ""
    weights: str = ""
    explain: bool = False


def _row(answer, task, chunks: bool, explain: bool = False) -> dict:
    """One document's output columns: the task's answer columns, then counts (None everywhere for a row that
    could not be classified); with explain, answer is an Explanation and its evidence is a list column."""
    evidence = None if answer is None or not explain else answer.records()
    answer = answer.prediction if explain and answer is not None else answer
    row = task.columns(answer)
    row["num_tokens"] = None if answer is None else answer.num_tokens
    row["num_chunks"] = None if answer is None else len(answer.chunks)
    if chunks:
        row["chunk_outputs"] = None if answer is None else [task.chunk_values(c) for c in answer.chunks]
        row["chunk_spans"] = None if answer is None else [list(c.span) for c in answer.chunks]
    if explain:
        row["evidence"] = evidence
    return row


def prediction_columns(
    classifier, ids: list, texts: list, strategy, pooling: str | None, chunks: bool, explain: bool = False
) -> dict:
    """The output columns of one batch: id, the answer by task (label / labels / value), probabilities,
    num_tokens, num_chunks, error, with chunks every chunk's outputs and character span, and with explain each
    sentence's span and effect (longbert.evidence)."""
    errors = [problem(text, f"the text of id {i!r}") for i, text in zip(ids, texts)]
    good = [k for k, error in enumerate(errors) if error is None]
    todo = [texts[k] for k in good]
    if explain:
        from longbert.evidence import iter_explain

        answered = list(iter_explain(classifier, todo, strategy, pooling))
    else:
        answered = classifier.predict(todo, strategy, pooling)
    answers = dict(zip(good, answered))
    rows = [_row(answers.get(k), classifier.task, chunks, explain) for k in range(len(ids))]
    names = list(_row(None, classifier.task, chunks, explain))
    return {"id": list(ids), **{name: [row[name] for row in rows] for name in names}, "error": errors}


class Output:
    """The output directory: which parts are done (present, its file and its input rows matching the digests recorded
    when it was written), and writing a part, its digests or the manifest atomically. _settings.json is written with
    the first part, so a run refused before any part leaves nothing that would block its corrected rerun. A directory
    holding anything else is refused, and one that cannot be written is found before any scoring."""

    def __init__(self, directory: str | Path, job: Job):
        pyarrow_module()  # before any work: without it no part could be written
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise LongbertError(f"--output {self.directory} is a file; it must be a directory (of parquet parts)")
        foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in self.directory.glob("*") if not ours(p.name))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise LongbertError(f"--output {self.directory} holds files longbert did not write ({shown}): "
                                "choose an empty or new directory")  # fmt: skip
        settings = self.directory / SETTINGS
        if settings.is_file():
            if json.loads(settings.read_text()) != asdict(job):
                raise LongbertError(
                    f"{self.directory} holds parts made with other settings, input or model weights ({SETTINGS}): "
                    "use another --output"
                )
        elif any(self.directory.glob("part-*.parquet")):
            raise LongbertError(f"{self.directory} holds parts but no {SETTINGS}: use another --output")
        self.directory.mkdir(parents=True, exist_ok=True)  # an unwritable place fails here, before any scoring
        with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".probe-"):
            pass
        self.job = job
        parts = self.directory / PARTS
        self.digests: dict[str, dict] = json.loads(parts.read_text()) if parts.is_file() else {}

    def part_path(self, number: int) -> Path:
        return self.directory / f"part-{number:05d}.parquet"

    def done(self, number: int, rows: str) -> bool:
        """Whether part `number` is written whole from these input rows (their rows_digest): a part whose file is
        damaged or replaced, or whose rows changed since, is said so and redone."""
        path = self.part_path(number)
        if not path.is_file():
            return False
        recorded = self.digests.get(path.name)
        if not isinstance(recorded, dict) or recorded.get("file") != file_digest(path):
            print(f"longbert predict: {path.name} does not match the digest recorded when it was written: "
                  "scoring its rows again", file=sys.stderr)  # fmt: skip
            return False
        if recorded.get("rows") != rows:
            print(f"longbert predict: the input rows of {path.name} changed since it was written: scoring them "
                  "again", file=sys.stderr)  # fmt: skip
            return False
        return True

    def write_part(self, number: int, columns: dict, meta: dict | None = None, rows: str = "") -> None:
        """Write part `number` whole, recording its file's and its input rows' digests; meta (the engine that
        answered) goes in its schema metadata as "longbert"."""
        pa = pyarrow_module()
        self.directory.mkdir(parents=True, exist_ok=True)
        if not (self.directory / SETTINGS).is_file():
            write_text_atomic(self.directory / SETTINGS, json.dumps(asdict(self.job), indent=1) + "\n")
        table, path = pa.table(columns), self.part_path(number)
        if meta:
            table = table.replace_schema_metadata({"longbert": json.dumps(meta)})

        def record(written: Path) -> None:  # before the part can be found: a part found always has its digests
            self.digests[path.name] = {"file": file_digest(written), "rows": rows}
            write_text_atomic(self.directory / PARTS, json.dumps(self.digests, indent=1) + "\n")

        write_atomic(path, lambda p: pa.parquet.write_table(table, p), record)

    def write_manifest(self, parts: int, rows: int, errors: list) -> None:
        names = [self.part_path(n).name for n in range(parts)]
        manifest = {"parts": names, "digests": [self.digests.get(n, {}).get("file") for n in names], "rows": rows,
                    "errors": len(errors), "settings": asdict(self.job)}  # fmt: skip
        self.directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.directory / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def ours(name: str) -> bool:
    """Whether an output directory's entry is one a collection writes (its parts, their temporary files, its
    settings, digests and manifest)."""
    return name in (SETTINGS, MANIFEST, PARTS) or name.startswith(("part-", ".part-", ".probe-", f".{PARTS}",
                                                                     f".{SETTINGS}", f".{MANIFEST}"))  # fmt: skip


def duplicates(files: list[Path], job: Job, hashes: list) -> list:
    """The ids that occur more than once (the first SHOWN_DUPLICATES of them, in input order) and how many do: found
    from the ids' hashes, then named by a pass over the ids (only where there are any)."""
    import numpy as np

    if not hashes:
        return []
    values, counts = np.unique(np.concatenate(hashes), return_counts=True)
    candidates = set(values[counts > 1].tolist())
    if not candidates:
        return []
    seen: dict = {}
    for identifier, _, _ in rows(files, job.text_column, job.id_column):
        if hash(identifier) in candidates:
            seen[identifier] = seen.get(identifier, 0) + 1
    return [i for i, n in seen.items() if n > 1]


def score_collection(
    source: str | Path,
    output: str | Path,
    job: Job,
    map_parts: Callable[[Iterator[tuple]], Iterator[tuple]],
    *,
    batch_rows: int = 1_000,
    progress: bool = True,
) -> dict:
    """Stream the input's unfinished parts through map_parts and write each part as it comes back.

    map_parts takes (number, ids, texts) parts and yields (number, columns, meta) in any order (meta: the engine
    that answered, written in the part's metadata): one process
    (local_parts), or a pool of Ray actors (longbert.distributed). Both score whole parts with
    prediction_columns, so their outputs agree. Returns the run's counts, as the manifest has them."""
    from tqdm.auto import tqdm

    files = input_files(source)  # before the output is touched: a bad input leaves nothing behind
    next(rows(files, job.text_column, job.id_column), None)  # a missing column is one line, before any progress bar
    out = Output(output, job)
    seen = {"rows": 0, "parts": 0, "reused": 0}
    pending: dict[int, str] = {}  # each part's rows digest, until it is written
    hashes: list = []  # the ids' hashes, a part at a time, for the duplicate check

    def todo() -> Iterator[tuple]:
        import numpy as np

        batches = read_rows(files, job.text_column, job.id_column, batch_rows)
        for number, (start, ids, texts) in enumerate(_parts(batches, job.part_rows)):
            seen["parts"], seen["rows"] = number + 1, start + len(ids)
            if job.id_column:
                hashes.append(np.fromiter((hash(i) for i in ids), np.int64, len(ids)))
            digest = rows_digest(ids, texts)
            if out.done(number, digest):
                seen["reused"] += 1
            else:
                pending[number] = digest
                yield number, ids, texts

    errors, tokens = [], 0
    bar = tqdm(desc="documents", unit="doc", disable=not progress, smoothing=0.1)
    try:
        for number, columns, meta in map_parts(todo()):
            out.write_part(number, columns, meta, pending.pop(number))
            errors += [(i, e) for i, e in zip(columns["id"], columns["error"]) if e is not None]
            tokens += sum(n or 0 for n in columns["num_tokens"])
            bar.update(len(columns["id"]))
            bar.set_postfix(tokens_s=f"{tokens / max(bar.format_dict['elapsed'], 1e-9):,.0f}")
    finally:
        bar.close()  # an error (a full disk) is then a line of its own
    out.write_manifest(seen["parts"], seen["rows"], errors)
    for i, error in errors[:5]:
        print(f"longbert predict: id {i!r} skipped: {error}", file=sys.stderr)
    if len(errors) > 5:
        print(f"longbert predict: {len(errors) - 5} more rows skipped (see the error column)", file=sys.stderr)
    repeated = duplicates(files, job, hashes)
    if repeated:
        shown = ", ".join(repr(i) for i in repeated[:SHOWN_DUPLICATES]) + (", ..." if len(repeated) > 3 else "")
        print(f"longbert predict: warning: {len(repeated):,} ids occur more than once ({shown}); every row is kept, "
              "in input order", file=sys.stderr)  # fmt: skip
    return {"rows": seen["rows"], "parts": seen["parts"], "parts_reused": seen["reused"], "errors": len(errors),
            "duplicate_ids": len(repeated)}  # fmt: skip


def local_parts(classifier, job: Job, strategy, pooling: str | None) -> Callable[[Iterator[tuple]], Iterator[tuple]]:
    """map_parts for one process: each part scored by this classifier, in order."""

    def run(parts: Iterator[tuple]) -> Iterator[tuple]:
        for number, ids, texts in parts:
            columns = prediction_columns(classifier, ids, texts, strategy, pooling, job.chunks, job.explain)
            yield number, columns, {"engine": classifier.engine}

    return run


def _parts(batches: Iterator[tuple], part_rows: int) -> Iterator[tuple]:
    """Regroup (start, ids, texts) batches into parts of exactly part_rows rows (the last may be short)."""
    ids: list = []
    texts: list = []
    start = 0
    for first, batch_ids, batch_texts in batches:
        if not ids:
            start = first
        ids += batch_ids
        texts += batch_texts
        while len(ids) >= part_rows:
            yield start, ids[:part_rows], texts[:part_rows]
            ids, texts, start = ids[part_rows:], texts[part_rows:], start + part_rows
    if ids:
        yield start, ids, texts
