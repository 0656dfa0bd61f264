"""longbert's Gradio app: a live demo of chunked classification (one setting, or A beside B) and a dashboard for
choosing settings by comparing them: the settings space as a heatmap, accuracy by length and against cost, and
any two settings compared review by review.

Run `python app.py`. Environment: LONGBERT_MODEL (default model: a directory or Hub id),
LONGBERT_MODELS (more models for the picker, comma-separated), LONGBERT_RESULTS (results directories shown on
the dashboard, comma-separated; default: every committed one), LONGBERT_IMDB (reviews for evaluation runs;
default: the bundled sample), LONGBERT_PRECISION (auto, fp32, bf16 or int8: the model quantized to int8 in ONNX
Runtime, for CPUs without bf16), LONGBERT_MAX_CHARS (longest review accepted, default 200,000), LONGBERT_MAX_CHUNKS
(most chunks one demo request may score, default 512), LONGBERT_MAX_RUN_CHUNKS (most distinct chunks one
evaluation run may score, default 20,000), LONGBERT_MAX_RUN_SETTINGS (most settings one run may compare,
default 64), GRADIO_SERVER_NAME/PORT.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import pandas as pd

import views
from eval import compare, figures
from eval.run import evaluate, load_results, parse_grid
from longbert import HEAD, POOLINGS, Chunking, LongbertError, LongTextClassifier, Sentences, Truncation
from longbert.bundled import default_model
from longbert.chunking import Strategy, smallest_stride
from longbert.data import SAMPLE, balanced_sample, load_imdb
from longbert.errors import Stopped


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Two glibc malloc arenas for the whole server, as MALLOC_ARENA_MAX=2 would give (a Space cannot set it
    before the process starts). By default each thread that allocates gets an arena of its own, up to 8 per
    core: under load the request threads keep freed memory in many arenas and the server grew by about 20 MB a
    round of 30 long reviews without levelling off (bench/load.py); with two it stays flat, and is no slower."""
    if sys.platform.startswith("linux") and "MALLOC_ARENA_MAX" not in os.environ:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # -8 is M_ARENA_MAX


limit_malloc_arenas()


try:  # on ZeroGPU Spaces every handler that runs the model runs on the lent GPU; a no-op elsewhere
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(function):
        return function


ROOT = Path(__file__).parent
RESULTS = ROOT / "eval" / "results"
# The default model's results on the full IMDB test split (the examples come from its disagreements).
FULL_SPLIT = RESULTS / "imdb-test"
FIXED, SENTENCES, HEAD_ONLY, TAIL_ONLY, HEAD_TAIL = "fixed windows", "sentence boundaries", "head", "tail", "head+tail"
CUTS = [FIXED, SENTENCES, HEAD_ONLY, TAIL_ONLY, HEAD_TAIL]
CHUNK_RANGE = (16, 510)  # the chunk_size slider; stride and minimal_chunk_size go from 1 to its top
MAX_CHARS = int(os.environ.get("LONGBERT_MAX_CHARS", "200000"))
# auto (bf16 where the hardware has it, else fp32) or int8 (ONNX Runtime, a CPU without bf16) or fp32
PRECISION = os.environ.get("LONGBERT_PRECISION", "auto")
# Chunks one demo request may score: 512 take about a minute on a 2-core CPU, under a second on a GPU.
MAX_CHUNKS = int(os.environ.get("LONGBERT_MAX_CHUNKS", "512"))
# Distinct chunks one evaluation run may score: 2,000 reviews cut 3,078 under the default grid (a minute
# on a 2-core CPU); 20,000 take about 6 minutes there.
MAX_RUN_CHUNKS = int(os.environ.get("LONGBERT_MAX_RUN_CHUNKS", "20000"))
# Settings one evaluation run may compare (chunkings x poolings + truncations): the default grid is 13.
MAX_RUN_SETTINGS = int(os.environ.get("LONGBERT_MAX_RUN_SETTINGS", "64"))
# Table columns, where a task's results have them (multi-label and regression results).
METRICS = [
    "setting",
    "accuracy",
    "f1",
    "micro_f1",
    "macro_f1",
    "subset_accuracy",
    "hamming_loss",
    "mae",
    "rmse",
    "r2",
    "spearman",
    "pearson",
    "roc_auc",
    "log_loss",
    "brier",
    "chunks",
    "mae_diff",
    "wilcoxon_p",
]
# Pressing Enter in a slider's number box applies the value, as leaving the box does: sliders answer on release
# (one request a drag), which Gradio fires when the box loses focus, not on Enter.
ENTER_APPLIES = """() => document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.matches("input[type=number]")) event.target.blur();
}, true)"""
LAUNCH = {"js": ENTER_APPLIES}
LOADING = "Loading the model: the first request takes about 10 s, later ones a fraction of that."


def whole_number(value, name: str) -> int:
    """A control's value as an int (sliders send 510.0; the API can send anything): else one LongbertError line."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number != int(number):
        raise LongbertError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def model_choices() -> list[str]:
    """The default model first, then any from LONGBERT_MODELS."""
    choices = []
    with contextlib.suppress(LongbertError):
        choices.append(default_model())
    choices += [m.strip() for m in os.environ.get("LONGBERT_MODELS", "").split(",") if m.strip()]
    return list(dict.fromkeys(choices))


_loaded: dict[str, LongTextClassifier] = {}
_loading = threading.Lock()


def classifier_for(model: str) -> LongTextClassifier:
    """The loaded classifier of an offered model: the picker's choices, in the page and through the API alike,
    so no request can make the server download or load a model of its own choosing."""
    if model not in model_choices():
        raise LongbertError(f"model {model!r} is not offered here (set LONGBERT_MODELS to offer more)")
    return load_classifier(model)


def load_classifier(model: str) -> LongTextClassifier:
    """A model loaded once per process (requests arriving while it loads wait for it), in LONGBERT_PRECISION."""
    with _loading:
        if model not in _loaded:
            _loaded[model] = LongTextClassifier.from_pretrained(model, precision=PRECISION)
        return _loaded[model]


def forget_models() -> None:
    """Drop the loaded models and cached chunk scores, so the next request loads afresh (bench.demo, per precision)."""
    with _loading:
        _loaded.clear()
    scored_chunks.cache_clear()


def example_reviews() -> list[str]:
    """Real IMDB test reviews: the split's longest (3,150 tokens with its markup, 2,811 once blanked), one that
    head truncation gets wrong and chunking right (from the committed results, if any), a middling one."""
    frame = pd.read_parquet(SAMPLE)
    order = frame["text"].str.len().sort_values(ascending=False).index
    examples = [frame.loc[order[0], "text"], frame.loc[order[200], "text"]]
    disagreements = FULL_SPLIT / "disagreements.parquet"
    if disagreements.is_file():
        d = pd.read_parquet(disagreements)
        truth = d["label"].astype(bool)
        head, chunked = d["head 510"] >= 0.5, d["chunk 510/510/1 mean"] >= 0.5
        fixed = d[(head != truth) & (chunked == truth) & d["num_tokens"].between(700, 1500)]
        if len(fixed):
            gap = (fixed["head 510"] - fixed["chunk 510/510/1 mean"]).abs()
            examples.insert(1, fixed.loc[gap.idxmax(), "text"])
    return examples


def demo_strategy(cut: str, chunk_size, stride, minimal, clamp: bool = True) -> tuple[Strategy, int, int, str]:
    """The strategy the demo's controls describe, with stride and minimal_chunk_size clamped to chunk_size when
    they are within the sliders' range (dragging chunk_size below them), and a note saying so; values outside
    the sliders' range are refused by the strategy's own check. Truncations keep chunk_size tokens (head+tail: a
    quarter from the start, 128+382 at 510)."""
    size = whole_number(chunk_size, "chunk_size")
    stride, minimal = whole_number(stride, "stride"), whole_number(minimal, "minimal_chunk_size")
    notes = []
    if clamp and 1 <= size < stride <= CHUNK_RANGE[1]:
        stride = size
        notes.append(f"stride lowered to chunk_size ({size})")
    if clamp and 1 <= size < minimal <= CHUNK_RANGE[1]:
        minimal = size
        notes.append(f"minimal_chunk_size lowered to chunk_size ({size})")
    if cut in (FIXED, SENTENCES):
        strategy = (Sentences if cut == SENTENCES else Chunking)(size, stride, minimal)
    elif cut in (HEAD_ONLY, TAIL_ONLY, HEAD_TAIL):
        head = {HEAD_ONLY: size, TAIL_ONLY: 0, HEAD_TAIL: round(size * 128 / 510)}[cut]
        strategy = Truncation(head, size - head)
    else:
        raise LongbertError(f"unknown cut {cut!r}: choose one of {', '.join(CUTS)}")
    return strategy, stride, minimal, "; ".join(notes)


@functools.lru_cache(maxsize=32)
def scored_chunks(model: str, text: str, strategy: Strategy):
    """(encoded, chunks, chunk scores or None when there are more than MAX_CHUNKS) of one review: kept for the
    last 32 requests, so changing only the pooling re-pools the scores already computed."""
    classifier = classifier_for(model)
    encoded = classifier.encode([text], strategies=[strategy])
    chunks = classifier.chunk(encoded, strategy)
    return encoded, chunks, (classifier.score(chunks) if len(chunks) <= MAX_CHUNKS else None)


@gpu
def classify(text: str, model: str, chunk_size, stride, minimal, pooling: str, boundaries: str = FIXED):
    """Demo and API handler: verdict markdown, per-chunk figure and shaded review; bad input becomes a message.

    boundaries: how chunks are cut: fixed windows, at sentence boundaries, or a truncation (head, tail, head+tail).
    """
    empty = (None, "")
    if not model:
        return ("No model is configured: set LONGBERT_MODEL to a model directory or Hub id.", *empty)
    if not text or not text.strip():
        return ("Paste a review (or pick an example) to classify it.", *empty)
    if len(text) > MAX_CHARS:
        return (f"This text has {len(text):,} characters; the limit here is {MAX_CHARS:,}.", *empty)
    try:
        classifier = classifier_for(model)
        strategy = demo_strategy(boundaries, chunk_size, stride, minimal, clamp=False)[0]  # the API: no clamping
        strategy.validate(classifier.max_chunk_size)
        head_strategy = Truncation(min(HEAD.head, classifier.max_chunk_size), 0)
        start = time.perf_counter()
        encoded, chunks, scores = scored_chunks(model, text, strategy)
        if scores is None:
            fits = smallest_stride(strategy, encoded[0], MAX_CHUNKS) if isinstance(strategy, Chunking) else None
            return (views.too_many_chunks(len(encoded[0]), len(chunks), MAX_CHUNKS, fits), *empty)
        (prediction,) = classifier.pool(scores, encoded, pooling)
        head_encoded, _, head_scores = scored_chunks(model, text, head_strategy)
        (head,) = classifier.pool(head_scores, head_encoded, "mean")
        seconds = time.perf_counter() - start
    except LongbertError as error:
        return (f"**Error:** {error}", *empty)
    verdict = views.verdict(prediction, head, head_strategy.head, pooling, seconds)
    if not prediction.chunks:
        return (verdict, *empty)
    shades, meaning = views.chunk_shades(prediction, classifier.labels)
    return (
        verdict,
        figures.prediction_figure(prediction, classifier.labels, pooling, classifier.task.threshold),
        views.shaded_text(text, prediction, shades, meaning),
    )


def demo(text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str = FIXED):
    """The demo's handler: classify() with stride and minimal_chunk_size clamped in the same request (the sliders
    are set to the clamped values in its answer), so dragging chunk_size never races a second handler."""
    try:
        _, stride_used, minimal_used, note = demo_strategy(cut, chunk_size, stride, minimal)
    except LongbertError:  # classify() says what is wrong
        stride_used, minimal_used, note = stride, minimal, ""
    verdict, chart, shaded = classify(text, model, chunk_size, stride_used, minimal_used, pooling, cut)
    moved = [
        gr.update(value=new) if new != old else gr.update()
        for new, old in ((stride_used, stride), (minimal_used, minimal))
    ]
    return (verdict + (f"  \n_({note})_" if note else ""), chart, shaded, *moved)


def demo_live(text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str = FIXED):
    """demo(), first saying that the model is loading where this is its first use."""
    if model and model not in _loaded and model in model_choices() and text and text.strip():
        yield (LOADING, gr.update(), gr.update(), gr.update(), gr.update())
    yield demo(text, model, chunk_size, stride, minimal, pooling, cut)


def demo_b(text: str, model: str, chunk_size, stride, minimal, pooling: str, cut: str, on: bool):
    """Setting B's verdict and chart, when compare mode is on (else nothing changes)."""
    if not on:
        return gr.update(), gr.update(), gr.update(), gr.update()
    verdict, chart, _, stride_update, minimal_update = demo(text, model, chunk_size, stride, minimal, pooling, cut)
    return verdict, chart, stride_update, minimal_update


def controls_for(setting: str) -> tuple[int, int, int, str, str]:
    """Demo controls (chunk_size, stride, minimal, pooling, cut) showing a results setting such as
    'chunk 256/128/1 max', 'sentences 510/510/1 mean' or 'head+tail 128+382'."""
    strategy, _, pooling = setting.rpartition(" ") if setting.startswith(("chunk", "sentences")) else (setting, "", "")
    described = compare.describe(strategy)
    size = described["chunk_size"]
    if described["kind"] == "truncation":
        cut = (
            HEAD_TAIL if strategy.startswith("head+tail") else (TAIL_ONLY if strategy.startswith("tail") else HEAD_ONLY)
        )
        return size, size, 1, "mean", cut
    cut = SENTENCES if described["kind"] == "sentences" else FIXED
    return size, described["stride"], described["minimal"], pooling, cut


# ---- the dashboard -------------------------------------------------------------------------------------------


def results_dirs() -> list[Path]:
    """Results shown on the dashboard: LONGBERT_RESULTS (comma-separated), else every committed directory, the
    settings-space study first."""
    if os.environ.get("LONGBERT_RESULTS"):
        return [Path(p.strip()) for p in os.environ["LONGBERT_RESULTS"].split(",") if p.strip()]
    found = sorted(p.parent for p in RESULTS.glob("*/summary.json"))
    return sorted(found, key=lambda p: (not p.name.startswith("imdb-space"), p.name != "imdb-test", p.name))


@functools.lru_cache(maxsize=8)
def results_at(directory: str) -> dict:
    return load_results(directory)


def model_name(model: str) -> str:
    """A results file's model as people call it: 'bundled model' for longbert/model, else its last path part."""
    path = Path(model)
    return "bundled model" if path.parts[-2:] == ("longbert", "model") else path.name or model


def result_sets() -> dict[str, str]:
    """Label -> directory of every results set that exists: 'imdb-test: bundled model, 25,000 reviews'."""
    sets = {}
    for directory in results_dirs():
        if (directory / "summary.json").is_file():
            meta = results_at(str(directory))["meta"]
            sample = " (sample)" if meta.get("limit") else ""
            sets[f"{directory.name}: {model_name(meta['model'])}, {meta['reviews']:,} reviews{sample}"] = str(directory)
    return sets


def results_of(label: str) -> dict:
    sets = result_sets()
    if label not in sets:
        raise LongbertError(f"no results set {label!r} here")
    return results_at(sets[label])


def committed_results() -> dict | None:
    """The first results set shown, or None where there is none."""
    sets = result_sets()
    return results_at(next(iter(sets.values()))) if sets else None


def about(summary: dict) -> str:
    """Markdown: what a results set is (model, reviews, sample or full split, device, time) and how to extend it."""
    meta = summary["meta"]
    line = (
        f"**{model_name(meta['model'])}** on {meta['reviews']:,} IMDB {meta.get('split', 'test')} reviews, "
        f"{len(summary['rows'])} settings ({meta['device']}, {meta['precision']}, {meta['seconds']:.0f} s)."
    )
    if meta.get("limit"):
        kind = (
            "a seeded sample that keeps the split's mix of labels and lengths"
            if meta.get("sample") == "length-keeping"
            else "a seeded, label-balanced sample"
        )
        full = meta.get("command", "python -m eval ...").replace(f" --limit {meta['limit']}", "")
        full = full.replace(" --keep-lengths", "")  # only a --limit sample keeps lengths
        line += f" **A sample:** {kind}, not the full split. For the full split: `{full}` (on a GPU, minutes)."
    return line


def readable_table(summary: dict, source: str | None = None) -> pd.DataFrame:
    """Every setting with plain column names: percentages, intervals, the comparison with head truncation and the
    cost; tasks without accuracy get their own metrics, rounded."""
    table = compare.settings_table(summary)
    if "accuracy" not in table or summary["meta"].get("metric", "accuracy") != "accuracy":
        view = table[[c for c in METRICS if c in table]].round(4)
        for name in ("mcnemar_p", "wilcoxon_p"):
            if name in table:
                view[name] = [f"{p:.2g}" if p == p else "-" for p in table[name]]
    else:
        points = 100 * table[["accuracy_diff", "diff_low", "diff_high"]]
        view = pd.DataFrame(
            {
                "setting": table["setting"],
                "accuracy": [f"{a:.2%}" for a in table["accuracy"]],
                "95% interval": [
                    f"{lo:.2%} to {hi:.2%}" for lo, hi in zip(table["accuracy_low"], table["accuracy_high"])
                ],
                "vs head, points (95%)": [f"{d:+.2f} ({lo:+.2f} to {hi:+.2f})" for d, lo, hi in points.to_numpy()],
                "McNemar p": [f"{p:.2g}" for p in table["mcnemar_p"]],
                "gains / losses vs head": [f"{w} / {lo}" for w, lo in zip(table["wins"], table["losses"])],
                "chunks per review": table["chunks_per_review"].round(2),
                "tokens per review": table["tokens_per_review"].round(0),
            }
        )
        if "seconds_per_1k" in table:
            view["seconds per 1,000 reviews"] = table["seconds_per_1k"].round(1)
    if source is not None:
        view.insert(0, "source", source)
    return view


TABLE_NOTE = (
    "Accuracy with its 95% Wilson interval; the difference from head truncation (the first 510 tokens) in "
    "percentage points with a paired 95% interval and McNemar's exact p; gains / losses: the reviews it gets right "
    "that head gets wrong, and the reverse; what each setting scores per review."
)


def contrast(table: pd.DataFrame, metric: str) -> list[str]:
    """Two settings worth drawing by length at first: the best, and the best of another chunk size."""
    ranked = table.sort_values(metric, ascending=metric in compare.LOWER_IS_BETTER)
    best = ranked.iloc[0]
    other = ranked[(ranked["chunk_size"] != best["chunk_size"]) & (ranked["kind"] != "truncation")]
    return [best["setting"], *other["setting"].head(1)]


def heatmap(label: str, metric: str, pooling: str, minimal_share: str, bucket: str):
    return figures.heatmap_figure(compare.settings_table(results_of(label)), metric, pooling, minimal_share, bucket)


def length_lines(label: str, settings: list[str]):
    """Accuracy by length decile of at most five chosen settings, with head 510 always drawn as the reference."""
    summary = results_of(label)
    known = {r["setting"] for r in summary["rows"]}
    chosen = [s for s in ([settings] if isinstance(settings, str) else settings or []) if s in known][:5]
    shown = list(dict.fromkeys((["head 510"] if "head 510" in known else []) + chosen))
    return figures.length_figure(compare.by_length(summary, shown), summary["meta"].get("metric", "accuracy"))


def cost_chart(label: str, metric: str, cost: str):
    return figures.cost_figure(compare.settings_table(results_of(label)), metric, cost)


def setting_names(label: str) -> list[str]:
    return [r["setting"] for r in results_of(label)["rows"]]


def ab_compare(label_a: str, setting_a: str, label_b: str, setting_b: str):
    """Markdown, figure and table of A against B on the reviews both scored; a message where they cannot pair."""
    try:
        a, b = results_of(label_a), results_of(label_b)
        if setting_a not in setting_names(label_a) or setting_b not in setting_names(label_b):
            raise LongbertError("pick a setting for A and for B")
        result = compare.compare(a, setting_a, b, setting_b)
    except (LongbertError, ValueError) as error:
        return f"**Cannot compare:** {error}", None, pd.DataFrame()
    stats, metric = result["paired"], result["metric"]
    if "accuracy_diff" in stats:
        text = (
            f"**A {setting_a}: {result['a']:.2%}, B {setting_b}: {result['b']:.2%}** on {result['n']:,} reviews. "
            f"A - B = {100 * stats['accuracy_diff']:+.2f} points (95% {100 * stats['diff_low']:+.2f} to "
            f"{100 * stats['diff_high']:+.2f}), McNemar p = {stats['mcnemar_p']:.2g}; A alone right on "
            f"{stats['wins']}, B alone on {stats['losses']}."
        )
    else:
        text = (
            f"**A {setting_a}: {metric} {result['a']:.4f}, B {setting_b}: {result['b']:.4f}** on "
            f"{result['n']:,} reviews; A - B = {stats['mae_diff']:+.4f} (95% {stats['diff_low']:+.4f} to "
            f"{stats['diff_high']:+.4f}), Wilcoxon p = {stats['wilcoxon_p']:.2g}."
        )
    table = result["disagreements"].round(3)
    text += f" They disagree on {len(table):,} reviews: select one to open it in the demo with both settings."
    return text, figures.ab_figure(result, setting_a, setting_b), table


def review_text(review_id, *summaries: dict, label=None) -> str | None:
    """A review's text from the results sets' disagreement files, else from the reviews LONGBERT_IMDB names; label
    tells apart the two reviews of each id (IMDB numbers negative and positive reviews separately)."""

    def find(frame: pd.DataFrame) -> str | None:
        match = frame["review_id"] == review_id
        if label is not None and "label" in frame:
            match &= frame["label"] == label
        return str(frame.loc[match, "text"].iloc[0]) if match.any() else None

    for summary in summaries:
        if "review_id" in summary["disagreements"] and (text := find(summary["disagreements"])) is not None:
            return text
    with contextlib.suppress(LongbertError, KeyError):
        return find(load_imdb("test", os.environ.get("LONGBERT_IMDB", "sample")))
    return None


def open_pair(label_a: str, setting_a: str, label_b: str, setting_b: str, table: pd.DataFrame, event: gr.SelectData):
    """Selecting a review where A and B disagree opens it in the demo with A and B set and compare mode on."""
    keep = (gr.update(),) * 13
    if event is None or event.index is None or table is None or len(table) == 0:
        return keep
    row = table.iloc[event.index[0]]
    text = review_text(row.get("review_id"), results_of(label_a), results_of(label_b), label=row.get("label"))
    if text is None:
        return keep
    return (views.readable(text), *controls_for(setting_a), True, *controls_for(setting_b), gr.Tabs(selected="demo"))


# ---- evaluation runs ------------------------------------------------------------------------------------------

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
        frame = balanced_sample(load_imdb("test", os.environ.get("LONGBERT_IMDB", "sample")), reviews, seed=0)
        summary = evaluate(
            classifier_for(model),
            frame,
            model=model,
            chunkings=parse_grid(grid),
            poolings=poolings,
            progress=True,
            max_chunks=MAX_RUN_CHUNKS,
            max_settings=MAX_RUN_SETTINGS,
            stop=stop,
        )
    except Stopped:
        return "Stopped: nothing more is scored.", None, None, None
    except LongbertError as error:
        return f"**Error:** {error}", None, None, None
    finally:
        _runs.pop(key, None)
    table = readable_table(summary, f"run: {len(frame)} reviews")
    note = f"Scored {len(frame)} reviews in {summary['meta']['seconds']:.1f} s."
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


# ---- the page -------------------------------------------------------------------------------------------------


def setting_controls(suffix: str = ""):
    """chunk_size, stride, minimal_chunk_size sliders, the pooling and how chunks are cut, for setting A or B."""
    top = CHUNK_RANGE[1]
    chunk_size = gr.Slider(*CHUNK_RANGE, value=top, step=1, label=f"chunk_size{suffix} (tokens)")
    stride = gr.Slider(1, top, value=top, step=1, label=f"stride{suffix} (<= chunk_size)")
    minimal = gr.Slider(1, top, value=1, step=1, label=f"minimal_chunk_size{suffix}")
    pooling = gr.Dropdown(list(POOLINGS), value="mean", label=f"pooling{suffix}")
    cut = gr.Radio(CUTS, value=FIXED, label=f"chunks{suffix} cut as")
    return chunk_size, stride, minimal, pooling, cut


def build_app() -> gr.Blocks:
    """The whole UI: a Demo tab and an Evaluation tab."""
    models = model_choices()
    examples = example_reviews()
    sets = result_sets()
    labels = list(sets)
    source = os.environ.get("LONGBERT_IMDB", "sample")
    with gr.Blocks(title="longbert: BERT for long texts") as app:
        gr.Markdown(
            "# longbert\nClassify reviews of any length: the text is cut into chunks, every chunk is "
            "scored, and the chunk probabilities are pooled."
        )
        with gr.Tabs() as tabs:
            with gr.Tab("Demo", id="demo"):
                with gr.Row():
                    with gr.Column(scale=3, min_width=320):
                        text = gr.Textbox(label="Review", lines=10, max_lines=20, placeholder="Paste a long review")
                        example_list = gr.Examples(
                            [[views.readable(e)] for e in examples],
                            inputs=[text],
                            label="IMDB test reviews (pick one to classify it)",
                        )
                    with gr.Column(scale=2, min_width=300):
                        model = gr.Dropdown(
                            models, value=models[0] if models else None, label="Model", visible=len(models) > 1
                        )
                        controls_a = setting_controls()
                        compare_on = gr.Checkbox(False, label="Compare with a second setting (B)")
                        button = gr.Button("Classify", variant="primary")
                    with gr.Column(scale=2, min_width=300, visible=False) as column_b:
                        controls_b = setting_controls(" B")
                with gr.Row():
                    with gr.Column(min_width=320):
                        verdict = gr.Markdown()
                        chart = gr.Plot(label="Chunks")
                    with gr.Column(min_width=320, visible=False) as outputs_b:
                        verdict_b = gr.Markdown()
                        chart_b = gr.Plot(label="Chunks, setting B")
                shaded = gr.HTML()
                inputs_a = [text, model, *controls_a]
                inputs_b = [text, model, *controls_b, compare_on]
                outputs_a = [verdict, chart, shaded, controls_a[1], controls_a[2]]
                outputs_b_list = [verdict_b, chart_b, controls_b[1], controls_b[2]]
                # The API: classify() with its three outputs. The page: demo_live(), which also clamps the
                # sliders; sliders run it on release (one request a drag), other controls on change.
                button.click(
                    classify,
                    [text, model, *controls_a],
                    [verdict, chart, shaded],
                    api_name="predict",
                    preprocess=False,
                )
                page_event = {"api_name": False, "preprocess": False, "trigger_mode": "always_last"}
                run_a = dict(fn=demo_live, inputs=inputs_a, outputs=outputs_a, **page_event)
                run_b = dict(fn=demo_b, inputs=inputs_b, outputs=outputs_b_list, **page_event)
                gr.on(
                    [
                        text.submit,
                        *(c.release for c in controls_a[:3]),
                        *(c.change for c in controls_a[3:]),
                        model.change,
                    ],
                    **run_a,
                )
                gr.on(
                    [
                        button.click,
                        text.submit,
                        *(c.release for c in controls_b[:3]),
                        *(c.change for c in controls_b[3:]),
                        model.change,
                        compare_on.change,
                    ],
                    **run_b,
                )
                example_list.load_input_event.then(**run_a).then(**run_b)
                compare_on.change(
                    lambda on: (gr.Column(visible=on), gr.Column(visible=on)),
                    [compare_on],
                    [column_b, outputs_b],
                    api_name=False,
                    queue=False,
                )
            with gr.Tab("Evaluation", id="evaluation"):
                if not labels:
                    gr.Markdown("No committed results yet: run `python -m eval` and set LONGBERT_RESULTS.")
                else:
                    first = results_at(sets[labels[0]])
                    table0 = compare.settings_table(first)
                    metric0 = first["meta"].get("metric", "accuracy")
                    chosen = gr.Dropdown(labels, value=labels[0], label="Results")
                    description = gr.Markdown(about(first))
                    gr.Markdown("### The settings space: chunk_size x stride")
                    with gr.Row():
                        metrics = [
                            m
                            for m in ("accuracy", "f1", "roc_auc", "log_loss", "brier", "micro_f1", "mae")
                            if m in table0
                        ]
                        metric = gr.Dropdown(metrics, value=metric0, label="metric", min_width=140)
                        pool = gr.Dropdown(list(POOLINGS), value="mean", label="pooling", min_width=140)
                        minimal_choices = sorted(
                            set(table0["minimal_share"].dropna()),
                            key=lambda s: -1 if s == "1 token" else int(s.rstrip("%")),
                        )
                        minimal_share = gr.Dropdown(
                            minimal_choices or ["1 token"], value="1 token", label="minimal_chunk_size", min_width=140
                        )
                        bucket = gr.Dropdown(
                            [compare.ALL, *figures.BUCKETS],
                            value=compare.ALL,
                            label="reviews of length (tokens)",
                            min_width=140,
                        )
                    heat = gr.Plot(figures.heatmap_figure(table0, metric0, "mean", "1 token"))
                    gr.Markdown("### By review length (head truncation dashed, as the reference)")
                    top = table0.sort_values(metric0, ascending=metric0 in compare.LOWER_IS_BETTER)["setting"]
                    picked = gr.Dropdown(
                        list(table0["setting"]),
                        value=contrast(table0, metric0),
                        multiselect=True,
                        max_choices=5,
                        label="settings (up to five)",
                    )
                    lines = gr.Plot(length_lines(labels[0], contrast(table0, metric0)))
                    gr.Markdown("### Worth their compute? Each setting against what it scores")
                    costs = {v: k for k, v in figures.COSTS.items() if k in table0 or k != "seconds_per_1k"}
                    cost = gr.Radio(list(costs), value=next(iter(costs)), label="cost")
                    cost_plot = gr.Plot(figures.cost_figure(table0, metric0))
                    gr.Markdown("### A against B, review by review")
                    with gr.Row():
                        with gr.Column(min_width=300):
                            set_a = gr.Dropdown(labels, value=labels[0], label="A: results")
                            setting_a = gr.Dropdown(
                                setting_names(labels[0]),
                                value="head 510" if "head 510" in setting_names(labels[0]) else None,
                                label="A: setting",
                            )
                        with gr.Column(min_width=300):
                            set_b = gr.Dropdown(labels, value=labels[0], label="B: results")
                            setting_b = gr.Dropdown(setting_names(labels[0]), value=top.iloc[0], label="B: setting")
                    ab_text, ab_plot, ab_table = ab_compare(labels[0], setting_a.value, labels[0], top.iloc[0])
                    ab_note = gr.Markdown(ab_text)
                    ab_chart = gr.Plot(ab_plot)
                    ab_rows = gr.Dataframe(ab_table, interactive=False, max_height=320, label="Where A and B disagree")
                    gr.Markdown(f"### Every setting\n{TABLE_NOTE}")
                    every = gr.Dataframe(
                        readable_table(first), interactive=False, max_height=480, label="Settings x metrics"
                    )

                    def switch(label):
                        summary, table = results_of(label), compare.settings_table(results_of(label))
                        names = list(table["setting"])
                        m = summary["meta"].get("metric", "accuracy")
                        return (
                            about(summary),
                            gr.Dropdown(choices=names, value=contrast(table, m)),
                            readable_table(summary),
                        )

                    chosen.change(switch, [chosen], [description, picked, every], api_name=False)
                    heat_inputs = [chosen, metric, pool, minimal_share, bucket]
                    gr.on([c.change for c in heat_inputs], heatmap, heat_inputs, [heat], api_name=False)
                    gr.on([picked.change, chosen.change], length_lines, [chosen, picked], [lines], api_name=False)
                    cost_key = gr.State(next(iter(costs.values())))
                    cost.change(lambda c: costs[c], [cost], [cost_key], api_name=False).then(
                        cost_chart, [chosen, metric, cost_key], [cost_plot], api_name=False
                    )
                    gr.on(
                        [chosen.change, metric.change],
                        cost_chart,
                        [chosen, metric, cost_key],
                        [cost_plot],
                        api_name=False,
                    )
                    for which, names in ((set_a, setting_a), (set_b, setting_b)):
                        which.change(
                            lambda label: gr.Dropdown(choices=setting_names(label)), [which], [names], api_name=False
                        )
                    ab_inputs = [set_a, setting_a, set_b, setting_b]
                    gr.on(
                        [setting_a.change, setting_b.change],
                        ab_compare,
                        ab_inputs,
                        [ab_note, ab_chart, ab_rows],
                        api_name="compare",
                    )
                    ab_rows.select(
                        open_pair,
                        [*ab_inputs, ab_rows],
                        [text, *controls_a, compare_on, *controls_b, tabs],
                        api_name=False,
                    ).then(**run_a).then(**run_b)
                gr.Markdown("### Run an evaluation on a sample of test reviews")
                most = max(available_reviews(source), 10)
                with gr.Row():
                    reviews = gr.Slider(
                        10,
                        most,
                        value=min(100, most),
                        step=10,
                        label=f"reviews (seeded, balanced; {most:,} available here)",
                    )
                    grid = gr.Textbox("510/510/1,510/255/1", label="chunkings CHUNK/STRIDE/MINIMAL")
                    poolings = gr.CheckboxGroup(list(POOLINGS), value=["mean", "max"], label="poolings")
                with gr.Row():
                    run = gr.Button("Run", variant="primary")
                    stop = gr.Button("Stop")
                run_note = gr.Markdown()
                run_headers = list(readable_table(committed_results(), "").columns) if labels else ["setting"]
                run_table = gr.Dataframe(
                    headers=run_headers,
                    label="This run (the committed results are in the table above)",
                    interactive=False,
                )
                with gr.Row():
                    with gr.Column(min_width=320):
                        run_accuracy = gr.Plot(visible=False)
                    with gr.Column(min_width=320):
                        run_buckets = gr.Plot(visible=False)
                run.click(
                    run_evaluation,
                    [model, reviews, grid, poolings],
                    [run_note, run_table, run_accuracy, run_buckets],
                    api_name="evaluate",
                    preprocess=False,
                )
                stop.click(stop_evaluation, None, None, api_name=False, queue=False)
                gr.api(scoring_now, api_name="runs")
    return app


def preload() -> None:
    """Load the default model in the background at start and score the examples with the default setting (as
    Gradio's cache_examples would), so the first visitor rarely waits; a model that fails to load says so on the
    first request instead."""

    def load(model: str) -> None:
        with contextlib.suppress(Exception):
            load_classifier(model)
            top = CHUNK_RANGE[1]
            for example in example_reviews():
                classify(views.readable(example), model, top, top, 1, "mean")

    if models := model_choices():
        threading.Thread(target=load, args=(models[0],), daemon=True).start()


if __name__ == "__main__":
    preload()
    build_app().queue(default_concurrency_limit=2, max_size=64).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=False,
        show_error=False,
        **LAUNCH,
    )
