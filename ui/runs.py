"""Evaluation runs from the page: one per session, costed in tokens before any scoring, scored in a worker thread
while the handler reports one progress bar over the whole run; Stop, or the page or API client going away, stops
the scoring within one batch, and a stopped run shows the reviews it scored whole (partial results)."""

from __future__ import annotations

import functools
import os
import shlex
import threading
import time
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from eval import figures
from eval.run import TooCostly, evaluate, parse_grid
from longbert import Chunking, LongbertError, LongTextClassifier
from longbert.bundled import default_model
from longbert.data import balanced_sample, fit_labels, load_imdb
from longbert.errors import Stopped
from longbert.scoring import Meter
from ui import budget, config, dashboard, truth, uploads, visitor
from ui.config import gpu, review_source
from ui.controls import whole_number
from ui.dashboard import readable_table
from ui.models import classifier_for

_runs: dict[str, Meter] = {}  # the run scoring now, per page session
_runs_lock = threading.Lock()
NOTHING = (None,) * 8  # the table, two figures, the files, the command and the three results pickers
KEEP = (gr.update(),) * 8


@dataclass(frozen=True)
class Source:
    """Where a run's reviews came from, as `python -m eval` names it (--data and its columns) and as the results
    pickers name the set."""

    data: str
    name: str
    text_column: str = "text"
    label_column: str = "label"


@dataclass(frozen=True)
class Run:
    """A checked run: the classifier, the sampled reviews, what to compare, where the reviews came from, and the
    model, chunkings and size as asked for (the command that reproduces it is written from these)."""

    classifier: LongTextClassifier
    frame: pd.DataFrame
    chunkings: list[Chunking]
    poolings: list[str]
    source: Source
    model: str
    grid: str
    asked: int

    @property
    def meta(self) -> dict:
        """What the run's results say of where their reviews came from."""
        return {"visitor": True, "data": self.source.data, "split": "test", "limit": len(self.frame), "seed": 0,
                "sample": "balanced"}  # fmt: skip


def scoring_now() -> int:
    """How many evaluation runs are scoring in this server now (the Stop tests read it through the API)."""
    with _runs_lock:
        return len(_runs)


@functools.lru_cache(maxsize=4)
def available_reviews(source: str) -> int:
    """How many test reviews an evaluation run can draw from."""
    try:
        return len(load_imdb("test", source))
    except LongbertError:
        return 0


def checked_setting(model: str, grid: str, poolings, session: str | None = None) -> tuple:
    """The run's classifier, chunkings and poolings, or one LongbertError line."""
    if not model:
        raise LongbertError("no model is configured: set LONGBERT_MODEL")
    if not isinstance(grid, str):
        raise LongbertError(f"the chunkings must be text such as 510/510/1,510/255/1, got {grid!r}")
    poolings = [poolings] if isinstance(poolings, str) else list(poolings or [])
    if not poolings:
        raise LongbertError("choose at least one pooling")
    return classifier_for(model, session), parse_grid(grid), poolings


def checked(model: str, reviews, grid: str, poolings, session: str | None = None) -> Run:
    """A run on a seeded, balanced sample of the IMDB test reviews here, or one LongbertError line."""
    asked = whole_number(reviews, "reviews")
    if asked < 1:
        raise LongbertError(f"reviews must be at least 1, got {asked}")
    classifier, chunkings, poolings = checked_setting(model, grid, poolings, session)
    frame = balanced_sample(fit_labels(load_imdb("test", review_source()), classifier.task), asked, seed=0)
    return Run(classifier, frame, chunkings, poolings, Source(review_source(), "IMDB test reviews"), model, grid, asked)


def checked_file(file, text_column, label_column, model: str, rows, grid: str, poolings, from_page: bool,
                 session: str | None = None) -> Run:  # fmt: skip
    """A run on a seeded sample of at most LONGBERT_MAX_UPLOAD_ROWS of the visitor's file's rows, labels fitted to
    the model, or one LongbertError line before any scoring."""
    upload = uploads.upload_of(file, from_page)
    asked = whole_number(rows, "rows")
    if not 1 <= asked <= config.MAX_UPLOAD_ROWS:
        raise LongbertError(f"rows must be from 1 to {config.MAX_UPLOAD_ROWS:,}, got {asked:,}")
    classifier, chunkings, poolings = checked_setting(model, grid, poolings, session)
    frame = uploads.labelled_rows(upload, text_column, label_column, classifier.task, asked)
    source = Source(upload.name, upload.name, text_column, label_column)
    return Run(classifier, frame, chunkings, poolings, source, model, grid, asked)


def command(model: str, source: Source, reviews: int, grid: str, poolings: list[str]) -> str:
    """The `python -m eval` line that reproduces a run (the same seeded sample, settings and model), its file named
    as the visitor knows it."""
    args = [] if model == default_model() and not os.environ.get("LONGBERT_MODEL") else ["--model", model]
    args += ["--data", source.data]
    if (source.text_column, source.label_column) != ("text", "label"):
        args += ["--text-column", source.text_column, "--label-column", source.label_column]
    chunkings = ",".join(c.strip() for c in grid.split(",") if c.strip())
    args += ["--limit", str(reviews), "--seed", "0", "--grid", chunkings]
    return "python -m eval " + shlex.join([*args, "--poolings", ",".join(poolings), "--out", "runs/mine"])


def progress_note(meter: Meter, started: float) -> str:
    """Markdown: tokens scored of those planned, and the time left at this run's own rate (the server's, at first)."""
    if meter.stop.is_set():
        return "**Stopping…** the batch in flight finishes, then the reviews scored whole are shown."
    if not meter.planned:
        return "Cutting the reviews into chunks…"
    elapsed = time.monotonic() - started
    rate = meter.done / elapsed if meter.done and elapsed > 2 else budget.RATE.value
    left = (meter.planned - meter.done) / max(rate, 1e-9)
    return (f"Scoring: {meter.done:,} of {meter.planned:,} tokens ({meter.done / meter.planned:.0%}), about "
            f"{left:,.0f} s left at {rate:,.0f} tokens/s.")  # fmt: skip


def answer(outcome: dict, run: Run, session: str, from_page: bool) -> tuple:
    """The run's note, table, figures, files to download, reproducing command and results pickers (or its message)
    once the worker is done; the results become one of the session's sets, shown on the whole dashboard."""
    error = outcome.get("error")
    if isinstance(error, TooCostly):
        advice = "take fewer reviews, larger strides or fewer chunkings."
        return budget.refusal(error.tokens, error.limit, "evaluation run", advice), *NOTHING
    if isinstance(error, Stopped):
        return "Stopped before any review was scored whole: nothing to show.", *NOTHING
    if isinstance(error, LongbertError):
        return f"**Error:** {error}", *NOTHING
    if error is not None:
        raise error
    results, frame, source, asked = outcome["results"], run.frame, run.source, run.asked
    partial = results.meta.get("partial")
    scored = f"{results.reviews} of {len(frame)} reviews (partial)" if partial else f"{results.reviews} reviews"
    note = f"Scored {results.reviews} reviews in {results.meta['seconds']:.1f} s."
    if partial:
        note = f"**Stopped:** partial results on the {results.reviews} of {len(frame)} reviews scored before the Stop."
    if len(frame) < asked:
        where = f"{source.name} holds" if source.data == source.name else "the reviews here (LONGBERT_IMDB) hold"
        note += f" ({asked:,} were asked for; {where} only {len(frame):,}.)"
    line = command(run.model, source, len(frame), run.grid, run.poolings)
    results.meta["command"] = line
    directory = visitor.fresh_directory(session)
    results.write(directory)  # the files to download; the page draws the figures from the results themselves
    label = visitor.keep(session, f"{source.name}, {dashboard.model_name(run.model)}, {scored}", results, directory,
                         truth.set_labels(results))  # fmt: skip
    note += f" It is now on the whole dashboard above as **{label}** (this page only; kept an hour at most)."
    plots = figures.accuracy_figure(results), figures.bucket_figure(results)
    files = [str(directory / "summary.csv"), str(directory / "predictions.parquet")]
    how = f"To reproduce it (with the file beside you):\n```\n{line}\n```"
    pickers = dashboard.pickers_with(session, label) if from_page else (label,) * 3
    return (note, readable_table(results, f"run: {scored}"), *(gr.Plot(plot, visible=True) for plot in plots),
            files, how, *pickers)  # fmt: skip


def scored_run(key: str, prepare, from_page: bool, progress):
    """One evaluation run for a session: prepare() gives the checked Run or one LongbertError line; a worker scores
    while this generator reports progress every half second, and each report the page takes counts as a sign of
    life; a run not heard from for config.GONE_AFTER_S (its page or client went away) stops, as does Stop, within
    one batch."""
    with _runs_lock:
        if key in _runs:
            yield "A run of yours is still scoring: Stop it, or wait for it.", *KEEP
            return
        meter = _runs[key] = Meter()
    heard = [time.monotonic()]

    def pause() -> None:
        budget.PRIORITY.wait_for_demos()
        if time.monotonic() - heard[0] > config.GONE_AFTER_S:
            meter.stop.set()

    meter.pause = pause
    try:
        run = prepare()
    except BaseException as error:  # no worker will start: the session may run again
        with _runs_lock:
            _runs.pop(key, None)
        if not isinstance(error, LongbertError):
            raise
        yield f"**Error:** {error}", *NOTHING
        return
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["results"] = evaluate(run.classifier, run.frame, model=run.model, chunkings=run.chunkings,
                                          poolings=run.poolings, progress=False, max_tokens=config.RUN_TOKENS,
                                          max_settings=config.MAX_RUN_SETTINGS, meter=meter,
                                          block_reviews=config.RUN_BLOCK_REVIEWS, meta=run.meta)  # fmt: skip
        except Exception as error:  # handed to the handler, which answers it
            outcome["error"] = error
        finally:
            with _runs_lock:
                if _runs.get(key) is meter:
                    del _runs[key]

    started = time.monotonic()
    worker = threading.Thread(target=work, name=f"evaluation {key}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.5)
            heard[0] = time.monotonic()
            if meter.planned:
                progress((meter.done, meter.planned), desc="tokens scored", unit="tokens")
            yield progress_note(meter, started), *KEEP
    finally:
        meter.stop.set()  # closed early (the page went away): the worker stops at its next batch
    budget.RATE.observe(meter.done, time.monotonic() - started)
    yield answer(outcome, run, key, from_page)


@gpu
def run_evaluation(
    model: str,
    reviews,
    grid: str,
    poolings,
    request: gr.Request = None,
    progress=gr.Progress(),  # noqa: B008
):
    """Evaluation handler (api_name evaluate): score settings on a seeded, balanced sample of the IMDB test reviews
    here; the note, table, figures, files and command."""

    session = visitor.session_of(request)
    yield from scored_run(session, lambda: checked(model, reviews, grid, poolings, session), request is not None,
                          progress)  # fmt: skip


@gpu
def evaluate_file(
    file,
    text_column: str,
    label_column: str,
    model: str,
    rows,
    grid: str,
    poolings,
    request: gr.Request = None,
    progress=gr.Progress(),  # noqa: B008
):
    """Evaluation handler (api_name evaluate_file): score settings on a seeded sample of the visitor's own labelled
    file (CSV, JSON lines or parquet) with the chosen model; the same tables as the page, and the files."""

    session, from_page = visitor.session_of(request), request is not None

    def prepare() -> Run:
        return checked_file(file, text_column, label_column, model, rows, grid, poolings, from_page, session)

    yield from scored_run(session, prepare, from_page, progress)


def inspect_file(file, request: gr.Request = None) -> tuple:
    """An upload's columns in the text and label pickers (guessed: text/review/body, label/sentiment/score ...) and
    a line on what it holds, or one line on why it can't be used."""
    try:
        columns, text, label, rows = uploads.columns_of(uploads.upload_of(file, request is not None))
    except LongbertError as error:
        return f"**Error:** {error}", gr.Dropdown(choices=[], value=None), gr.Dropdown(choices=[], value=None)
    most = min(rows, config.MAX_UPLOAD_ROWS)
    note = (f"{rows:,} rows, columns {', '.join(columns)}. A run draws a seeded sample of up to {most:,} of them "
            f"(LONGBERT_MAX_UPLOAD_ROWS {config.MAX_UPLOAD_ROWS:,}).")  # fmt: skip
    return note, gr.Dropdown(choices=columns, value=text), gr.Dropdown(choices=columns, value=label)


def stop_evaluation(request: gr.Request = None) -> str:
    """Stop: set this session's run's flag; its scoring stops after the batch in flight, and the run answers with
    the reviews scored whole. Says "Stopping…" at once."""
    with _runs_lock:
        meter = _runs.get(visitor.session_of(request))
    if meter is None:
        return "No run of yours is scoring."
    meter.stop.set()
    return "**Stopping…** the batch in flight finishes, then the reviews scored whole are shown."
