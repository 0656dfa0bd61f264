"""Evaluation runs from the page: one per session, costed in tokens before any scoring, scored in a worker thread
while the handler reports one progress bar over the whole run; Stop, or the page or API client going away, stops
the scoring within one batch, and a stopped run shows the reviews it scored whole (partial results)."""

from __future__ import annotations

import functools
import threading
import time

import gradio as gr

from eval import figures
from eval.run import TooCostly, evaluate, parse_grid
from longbert import LongbertError
from longbert.data import balanced_sample, load_imdb
from longbert.errors import Stopped
from longbert.scoring import Meter
from ui import budget, config
from ui.config import gpu, review_source
from ui.controls import whole_number
from ui.dashboard import readable_table
from ui.models import classifier_for

_runs: dict[str, Meter] = {}  # the run scoring now, per page session
_runs_lock = threading.Lock()
NOTHING = (None, None, None)


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


def checked(model: str, reviews, grid: str, poolings) -> tuple:
    """The run's model, reviews (a seeded, balanced sample), chunkings and poolings, or one LongbertError line."""
    if not model:
        raise LongbertError("no model is configured: set LONGBERT_MODEL")
    if not isinstance(grid, str):
        raise LongbertError(f"the chunkings must be text such as 510/510/1,510/255/1, got {grid!r}")
    poolings = [poolings] if isinstance(poolings, str) else list(poolings or [])
    if not poolings:
        raise LongbertError("choose at least one pooling")
    reviews = whole_number(reviews, "reviews")
    if reviews < 1:
        raise LongbertError(f"reviews must be at least 1, got {reviews}")
    classifier = classifier_for(model)
    frame = balanced_sample(load_imdb("test", review_source()), reviews, seed=0)
    return classifier, frame, parse_grid(grid), poolings


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


def answer(outcome: dict, frame, reviews: int) -> tuple:
    """The run's note, table and figures (or its message) once the worker is done."""
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
    results = outcome["results"]
    partial = results.meta.get("partial")
    scored = f"{results.reviews} of {len(frame)} reviews (partial)" if partial else f"{results.reviews} reviews"
    note = f"Scored {results.reviews} reviews in {results.meta['seconds']:.1f} s."
    if partial:
        note = f"**Stopped:** partial results on the {results.reviews} of {len(frame)} reviews scored before the Stop."
    if len(frame) < reviews:
        note += f" ({reviews:,} were asked for; the reviews here (LONGBERT_IMDB) hold only {len(frame):,}.)"
    plots = figures.accuracy_figure(results), figures.bucket_figure(results)
    return note, readable_table(results, f"run: {scored}"), *(gr.Plot(plot, visible=True) for plot in plots)


@gpu
def run_evaluation(
    model: str,
    reviews,
    grid: str,
    poolings,
    request: gr.Request = None,
    progress=gr.Progress(),  # noqa: B008
):
    """Evaluation handler: score settings from the page on a seeded sample; table and figures side by side.

    A generator: while a worker thread scores, it reports progress every half second, and each time the page takes
    a report counts as a sign of life; a run not heard from for config.GONE_AFTER_S (its page or client went away)
    stops, as does Stop, within one batch."""
    key = getattr(request, "session_hash", None) or "direct"
    with _runs_lock:
        if key in _runs:
            yield "A run of yours is still scoring: Stop it, or wait for it.", *NOTHING
            return
        meter = _runs[key] = Meter()
    heard = [time.monotonic()]

    def pause() -> None:
        budget.PRIORITY.wait_for_demos()
        if time.monotonic() - heard[0] > config.GONE_AFTER_S:
            meter.stop.set()

    meter.pause = pause
    try:
        classifier, frame, chunkings, chosen = checked(model, reviews, grid, poolings)
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
            outcome["results"] = evaluate(classifier, frame, model=model, chunkings=chunkings, poolings=chosen,
                                          progress=False, max_tokens=config.RUN_TOKENS,
                                          max_settings=config.MAX_RUN_SETTINGS, meter=meter,
                                          block_reviews=config.RUN_BLOCK_REVIEWS)  # fmt: skip
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
            yield progress_note(meter, started), gr.update(), gr.update(), gr.update()
    finally:
        meter.stop.set()  # closed early (the page went away): the worker stops at its next batch
    budget.RATE.observe(meter.done, time.monotonic() - started)
    yield answer(outcome, frame, whole_number(reviews, "reviews"))


def stop_evaluation(request: gr.Request = None) -> str:
    """Stop: set this session's run's flag; its scoring stops after the batch in flight, and the run answers with
    the reviews scored whole. Says "Stopping…" at once."""
    key = getattr(request, "session_hash", None) or "direct"
    with _runs_lock:
        meter = _runs.get(key)
    if meter is None:
        return "No run of yours is scoring."
    meter.stop.set()
    return "**Stopping…** the batch in flight finishes, then the reviews scored whole are shown."
