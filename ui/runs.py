"""Evaluation runs from the page: one per session, scored in a worker thread, stopped by the session's Stop."""

from __future__ import annotations

import functools
import threading

import gradio as gr

from eval import figures
from eval.run import evaluate, parse_grid
from longbert import LongbertError
from longbert.data import balanced_sample, load_imdb
from longbert.errors import Stopped
from ui import config
from ui.config import gpu, review_source
from ui.controls import whole_number
from ui.dashboard import readable_table
from ui.models import classifier_for

_runs: dict[str, threading.Event] = {}


def scoring_now() -> int:
    """How many evaluation runs are scoring in this server now (the Stop test reads it through the API)."""
    return len(_runs)


@functools.lru_cache(maxsize=4)
def available_reviews(source: str) -> int:
    """How many test reviews an evaluation run can draw from."""
    try:
        return len(load_imdb("test", source))
    except LongbertError:
        return 0


@gpu
def run_evaluation(
    model: str,
    reviews,
    grid: str,
    poolings,
    request: gr.Request = None,
    progress=gr.Progress(track_tqdm=True),  # noqa: B008
):
    """Evaluation handler: score settings from the page on a seeded sample; table and figures side by side.
    Stop sets this session's flag, and scoring stops within one slice of chunks."""
    key = getattr(request, "session_hash", None) or "direct"
    stop = _runs.setdefault(key, threading.Event())
    stop.clear()
    try:
        if not model:
            raise LongbertError("no model is configured: set LONGBERT_MODEL")
        poolings = [poolings] if isinstance(poolings, str) else list(poolings or [])
        if not poolings:
            raise LongbertError("choose at least one pooling")
        reviews = whole_number(reviews, "reviews")
        if reviews < 1:
            raise LongbertError(f"reviews must be at least 1, got {reviews}")
        frame = balanced_sample(load_imdb("test", review_source()), reviews, seed=0)
        summary = evaluate(
            classifier_for(model),
            frame,
            model=model,
            chunkings=parse_grid(grid),
            poolings=poolings,
            progress=True,
            max_chunks=config.MAX_RUN_CHUNKS,
            max_settings=config.MAX_RUN_SETTINGS,
            stop=stop,
        )
    except Stopped:
        return "Stopped: nothing more is scored.", None, None, None
    except LongbertError as error:
        return f"**Error:** {error}", None, None, None
    finally:
        _runs.pop(key, None)
    table = readable_table(summary, f"run: {len(frame)} reviews")
    note = f"Scored {len(frame)} reviews in {summary.meta['seconds']:.1f} s."
    if len(frame) < reviews:
        note += f" ({reviews:,} were asked for; the reviews here (LONGBERT_IMDB) hold only {len(frame):,}.)"
    plots = figures.accuracy_figure(summary), figures.bucket_figure(summary)
    return note, table, *(gr.Plot(plot, visible=True) for plot in plots)


def stop_evaluation(request: gr.Request = None) -> None:
    """Stop: set the flag of this session's run; the run then answers "Stopped" itself within one slice of chunks
    (cancelling the page's request as well would only replace that answer with Gradio's "Error" badge)."""
    key = getattr(request, "session_hash", None) or "direct"
    if key in _runs:
        _runs[key].set()
