"""longbert's Gradio app: a live demo of chunked classification and a dashboard comparing truncation with chunking.

Run `python app.py`. Environment: LONGBERT_MODEL (default model: a directory or Hub id),
LONGBERT_MODELS (more models for the picker, comma-separated), LONGBERT_RESULTS (results directory
shown on the dashboard), LONGBERT_IMDB (reviews for evaluation runs; default: the bundled sample),
LONGBERT_MAX_CHARS (longest review accepted, default 200,000), LONGBERT_MAX_CHUNKS (most chunks one
demo request may score, default 512), LONGBERT_MAX_RUN_CHUNKS (most distinct chunks one evaluation
run may score, default 20,000), LONGBERT_MAX_RUN_SETTINGS (most settings one run may compare, default 64),
GRADIO_SERVER_NAME/PORT.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import pandas as pd

import views
from eval import figures
from eval.run import evaluate, load_results, parse_grid
from longbert import HEAD, POOLINGS, Chunking, LongbertError, LongTextClassifier, Sentences, Truncation
from longbert.bundled import default_model
from longbert.chunking import smallest_stride
from longbert.data import SAMPLE, balanced_sample, load_imdb


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
FIXED, SENTENCES = "fixed windows", "sentence boundaries"
# The default model's committed results on the full IMDB test split.
DEFAULT_RESULTS = [ROOT / "eval" / "results" / "imdb-test"]
MAX_CHARS = int(os.environ.get("LONGBERT_MAX_CHARS", "200000"))
# Chunks one demo request may score: 512 take about a minute on a 2-core CPU, under a second on a GPU.
MAX_CHUNKS = int(os.environ.get("LONGBERT_MAX_CHUNKS", "512"))
# Distinct chunks one evaluation run may score: 2,000 reviews cut 3,078 under the default grid (a minute
# on a 2-core CPU); 20,000 take about 6 minutes there.
MAX_RUN_CHUNKS = int(os.environ.get("LONGBERT_MAX_RUN_CHUNKS", "20000"))
# Settings one evaluation run may compare (chunkings x poolings + truncations): the default grid is 13.
MAX_RUN_SETTINGS = int(os.environ.get("LONGBERT_MAX_RUN_SETTINGS", "64"))
# Table columns, where a task's results have them (single-label, multi-label, regression).
METRICS = ["setting", "accuracy", "accuracy_low", "accuracy_high", "f1", "micro_f1", "macro_f1", "subset_accuracy",
           "hamming_loss", "mae", "rmse", "r2", "spearman", "pearson", "roc_auc", "log_loss", "brier", "chunks",
           "accuracy_diff", "mae_diff", "mcnemar_p", "wilcoxon_p"]  # fmt: skip


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


def classifier_for(model: str) -> LongTextClassifier:
    """The loaded classifier of an offered model: the picker's choices, in the page and through the API alike,
    so no request can make the server download or load a model of its own choosing."""
    if model not in model_choices():
        raise LongbertError(f"model {model!r} is not offered here (set LONGBERT_MODELS to offer more)")
    return load_classifier(model)


@functools.lru_cache(maxsize=4)
def load_classifier(model: str) -> LongTextClassifier:
    return LongTextClassifier.from_pretrained(model)


def example_reviews() -> list[str]:
    """Real IMDB test reviews: the split's longest (3,150 tokens with its markup, 2,811 once blanked), one that
    head truncation gets wrong and chunking right (from the committed results, if any), a middling one."""
    frame = pd.read_parquet(SAMPLE)
    order = frame["text"].str.len().sort_values(ascending=False).index
    examples = [frame.loc[order[0], "text"], frame.loc[order[200], "text"]]
    disagreements = DEFAULT_RESULTS[0] / "disagreements.parquet"
    if disagreements.is_file():
        d = pd.read_parquet(disagreements)
        truth = d["label"].astype(bool)
        head, chunked = d["head 510"] >= 0.5, d["chunk 510/510/1 mean"] >= 0.5
        fixed = d[(head != truth) & (chunked == truth) & d["num_tokens"].between(700, 1500)]
        if len(fixed):
            gap = (fixed["head 510"] - fixed["chunk 510/510/1 mean"]).abs()
            examples.insert(1, fixed.loc[gap.idxmax(), "text"])
    return examples


@gpu
def classify(text: str, model: str, chunk_size: int, stride: int, minimal: int, pooling: str, boundaries: str = FIXED):
    """Demo handler: verdict markdown, per-chunk figure and shaded review; bad input becomes a message.

    boundaries: fixed windows, or chunks that end at sentence boundaries (the sentences strategy)."""
    empty = (None, "")
    if not model:
        return ("No model is configured: set LONGBERT_MODEL to a model directory or Hub id.", *empty)
    if not text or not text.strip():
        return ("Paste a review (or pick an example) to classify it.", *empty)
    if len(text) > MAX_CHARS:
        return (f"This text has {len(text):,} characters; the limit here is {MAX_CHARS:,}.", *empty)
    try:
        classifier = classifier_for(model)
        kind = Sentences if boundaries == SENTENCES else Chunking
        numbers = [
            whole_number(v, n)
            for v, n in ((chunk_size, "chunk_size"), (stride, "stride"), (minimal, "minimal_chunk_size"))
        ]
        strategy = kind(*numbers)
        strategy.validate(classifier.max_chunk_size)
        head_strategy = Truncation(min(HEAD.head, classifier.max_chunk_size), 0)
        start = time.perf_counter()
        encoded = classifier.encode([text], strategies=[strategy])
        chunks = classifier.chunk(encoded, strategy)
        if len(chunks) > MAX_CHUNKS:
            fits = smallest_stride(strategy, encoded[0], MAX_CHUNKS)
            return (views.too_many_chunks(len(encoded[0]), len(chunks), MAX_CHUNKS, fits), *empty)
        (prediction,) = classifier.pool(classifier.score(chunks), encoded, pooling)
        (head,) = classifier.predict_encoded(encoded, head_strategy)
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


def keep_stride_in_range(chunk_size: int, stride: int, minimal: int):
    """Sliders: stride and minimal_chunk_size never exceed chunk_size."""
    try:
        chunk_size, stride, minimal = (whole_number(v, "value") for v in (chunk_size, stride, minimal))
    except LongbertError:  # classify says what is wrong; the sliders stay as they are
        return gr.update(), gr.update()
    return (
        gr.update(maximum=chunk_size, value=min(stride, chunk_size)),
        gr.update(maximum=chunk_size, value=min(minimal, chunk_size)),
    )


def results_table(summary: dict, source: str) -> pd.DataFrame:
    """Settings x metrics of a results summary of any task type (the metrics its rows have)."""
    frame = pd.DataFrame(summary["rows"])
    columns = [c for c in METRICS if c in frame]
    rows = frame[columns].round(4)
    rows.insert(0, "source", source)
    for name in ("mcnemar_p", "wilcoxon_p"):  # 3.5e-10, not rounded to 0
        if name in frame:
            rows[name] = [f"{p:.2g}" if p == p else "-" for p in frame[name]]
    return rows


def committed_results() -> dict | None:
    """The results directory named by LONGBERT_RESULTS, else the first committed one that exists."""
    candidates = [Path(os.environ["LONGBERT_RESULTS"])] if os.environ.get("LONGBERT_RESULTS") else DEFAULT_RESULTS
    for directory in candidates:
        if (directory / "summary.json").is_file():
            return load_results(directory)
    return None


def disagreement_table(summary: dict) -> pd.DataFrame:
    frame = summary["disagreements"]
    columns = ["review", "label", "num_tokens", "head 510", "tail 510", "head+tail 128+382"]
    mean = [c for c in frame.columns if c.endswith(" mean")]
    return frame[[c for c in columns + mean if c in frame.columns]].round(3)


@gpu
def run_evaluation(model: str, reviews: int, grid: str, poolings: list[str], progress=gr.Progress(track_tqdm=True)):  # noqa: B008
    """Evaluation handler: score settings from the page on a seeded sample; table and figures side by side."""
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
        )
    except LongbertError as error:
        return f"**Error:** {error}", None, None, None
    table = results_table(summary, f"run: {len(frame)} reviews")
    committed = committed_results()
    if committed is not None:
        table = pd.concat([table, results_table(committed, f"committed: {committed['meta']['reviews']} reviews")])
    note = f"Scored {len(frame)} reviews in {summary['meta']['seconds']:.1f} s."
    if len(frame) < reviews:
        note += f" ({reviews:,} were asked for; the reviews here (LONGBERT_IMDB) hold only {len(frame):,}.)"
    return note, table, figures.accuracy_figure(summary), figures.bucket_figure(summary)


def open_in_demo(summary_rows: pd.DataFrame, event: gr.SelectData):
    """Selecting a disagreeing review puts its text in the demo tab and switches to it."""
    committed = committed_results()
    if committed is None or event.index is None:
        return gr.update(), gr.update()
    text = committed["disagreements"].iloc[event.index[0]]["text"]
    return text, gr.Tabs(selected="demo")


def build_app() -> gr.Blocks:
    """The whole UI: a Demo tab and an Evaluation tab."""
    models = model_choices()
    examples = example_reviews()
    committed = committed_results()
    with gr.Blocks(title="longbert: BERT for long texts") as app:
        gr.Markdown(
            "# longbert\nClassify reviews of any length: the text is cut into chunks, every chunk is "
            "scored, and the chunk probabilities are pooled."
        )
        with gr.Tabs() as tabs:
            with gr.Tab("Demo", id="demo"):
                with gr.Row():
                    with gr.Column(scale=3):
                        text = gr.Textbox(label="Review", lines=10, max_lines=20, placeholder="Paste a long review")
                        gr.Examples([[e] for e in examples], inputs=[text], label="IMDB test reviews")
                    with gr.Column(scale=2):
                        model = gr.Dropdown(models, value=models[0] if models else None, label="Model",
                                            visible=len(models) > 1)  # fmt: skip
                        chunk_size = gr.Slider(16, 510, value=510, step=1, label="chunk_size (tokens)")
                        stride = gr.Slider(1, 510, value=510, step=1, label="stride (<= chunk_size)")
                        minimal = gr.Slider(1, 510, value=1, step=1, label="minimal_chunk_size")
                        pooling = gr.Dropdown(list(POOLINGS), value="mean", label="pooling")
                        boundaries = gr.Radio([FIXED, SENTENCES], value=FIXED, label="chunks end at")
                        button = gr.Button("Classify", variant="primary")
                verdict = gr.Markdown()
                chart = gr.Plot(label="Chunks")
                shaded = gr.HTML()
                inputs = [text, model, chunk_size, stride, minimal, pooling, boundaries]
                outputs = [verdict, chart, shaded]
                # preprocess=False: the handlers check every value themselves, so a typed or API value out of
                # range (or not a number) gets the app's own message instead of Gradio's error toast.
                button.click(classify, inputs, outputs, api_name="predict", preprocess=False)
                text.submit(classify, inputs, outputs, api_name=False, preprocess=False)
                chunk_size.change(keep_stride_in_range, [chunk_size, stride, minimal], [stride, minimal],
                                  api_name=False, preprocess=False)  # fmt: skip
                for control in (chunk_size, stride, minimal, pooling, model, boundaries):
                    control.change(classify, inputs, outputs, api_name=False, trigger_mode="always_last",
                                   preprocess=False)  # fmt: skip
            with gr.Tab("Evaluation", id="evaluation"):
                if committed is None:
                    gr.Markdown("No committed results yet: run `python -m eval` and set LONGBERT_RESULTS.")
                else:
                    meta = committed["meta"]
                    gr.Markdown(
                        f"Committed results: **{meta['model']}** on {meta['reviews']:,} IMDB test reviews "
                        f"({meta['device']}, {meta['seconds']:.0f} s). Differences against head truncation carry "
                        "a paired 95% interval and McNemar's p."
                    )
                    gr.Dataframe(results_table(committed, "committed"), label="Strategies x metrics")
                    with gr.Row():
                        gr.Plot(figures.accuracy_figure(committed))
                        gr.Plot(figures.bucket_figure(committed))
                    disagree = gr.Dataframe(disagreement_table(committed), label="Reviews where settings disagree "
                                            "(select one to open it in the demo)")  # fmt: skip
                    disagree.select(open_in_demo, [disagree], [text, tabs])
                gr.Markdown("### Run an evaluation on a sample of test reviews")
                with gr.Row():
                    reviews = gr.Slider(10, 2000, value=100, step=10, label="reviews (seeded, balanced)")
                    grid = gr.Textbox("510/510/1,510/255/1", label="chunkings CHUNK/STRIDE/MINIMAL")
                    poolings = gr.CheckboxGroup(list(POOLINGS), value=["mean", "max"], label="poolings")
                with gr.Row():
                    run = gr.Button("Run", variant="primary")
                    stop = gr.Button("Stop")
                run_note = gr.Markdown()
                # headers of the committed results' task (METRICS lists every task's columns)
                headers = list(results_table(committed, "").columns) if committed else ["source", "setting"]
                run_table = gr.Dataframe(headers=headers, label="This run beside the committed results")
                with gr.Row():
                    run_accuracy = gr.Plot()
                    run_buckets = gr.Plot()
                running = run.click(run_evaluation, [model, reviews, grid, poolings],
                                    [run_note, run_table, run_accuracy, run_buckets], api_name="evaluate",
                                    preprocess=False)  # fmt: skip
                stop.click(None, None, None, cancels=[running], api_name=False)
    return app


if __name__ == "__main__":
    build_app().queue(default_concurrency_limit=2, max_size=64).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=False,
        show_error=False,
    )
