"""The Evaluation tab's data: the results sets on show, their tables and figures, and A against B."""

from __future__ import annotations

import contextlib
import functools
import os
import re
from pathlib import Path

import gradio as gr
import pandas as pd

from eval import compare, figures
from eval.results import Results
from longbert import LongbertError
from longbert.data import HUB_ID, load_imdb
from ui import views, visitor
from ui.config import RESULTS, review_source
from ui.controls import controls_for

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
    "ece",
    "chunks",
    "mae_diff",
    "wilcoxon_p",
    "best_diff",
    "best_p_holm",
    "near_best",
]


def results_dirs() -> list[Path]:
    """Results shown on the dashboard: LONGBERT_RESULTS (comma-separated), else every committed directory, the
    settings-space study first."""
    if os.environ.get("LONGBERT_RESULTS"):
        return [Path(p.strip()) for p in os.environ["LONGBERT_RESULTS"].split(",") if p.strip()]
    found = sorted(p.parent for p in RESULTS.glob("*/summary.json"))
    return sorted(found, key=lambda p: (not p.name.startswith("imdb-space"), p.name != "imdb-test", p.name))


@functools.lru_cache(maxsize=8)
def results_at(directory: str) -> Results:
    return Results.load(directory)


def model_name(model: str) -> str:
    """A results file's model as people call it: 'bundled model' for longbert/model, else its last path part."""
    path = Path(model)
    return "bundled model" if path.parts[-2:] == ("longbert", "model") else path.name or model


def result_sets() -> dict[str, str]:
    """Label -> directory of every committed results set that exists: 'imdb-test: bundled model, 25,000 reviews'."""
    sets = {}
    for directory in results_dirs():
        if (directory / "summary.json").is_file():
            meta = results_at(str(directory)).meta
            sample = " (sample)" if meta.get("limit") else ""
            sets[f"{directory.name}: {model_name(meta['model'])}, {meta['reviews']:,} reviews{sample}"] = str(directory)
    return sets


def labels_for(session: str | None) -> list[str]:
    """The results sets a page may pick: the committed ones, then the session's own runs (newest last)."""
    return [*result_sets(), *(visitor.sets_of(session) if session else {})]


def results_of(label: str, request: gr.Request | None = None) -> Results:
    """A results set by its label: a committed one, or one of this page session's own (no other session's)."""
    if isinstance(label, str) and label.startswith(visitor.PREFIX):
        kept = visitor.sets_of(visitor.session_of(request)).get(label)
        if kept is None:
            raise LongbertError(f"no results set {label!r} here: a run's results are its page's alone, for an hour")
        return kept.results
    sets = result_sets()
    if label not in sets:
        raise LongbertError(f"no results set {label!r} here")
    return results_at(sets[label])


def pickers_with(session: str, label: str) -> tuple:
    """The three results pickers (the dashboard's, A's and B's) offering the session's sets, all set to label."""
    choices = labels_for(session)
    return tuple(gr.Dropdown(choices=choices, value=label) for _ in range(3))


def committed_results() -> Results | None:
    """The first results set shown, or None where there is none."""
    sets = result_sets()
    return results_at(next(iter(sets.values()))) if sets else None


def about(results: Results) -> str:
    """Markdown: what a results set is (model, reviews, sample or full split, device, time) and how to extend it."""
    meta = results.meta
    how = f"{len(results.rows)} settings ({meta['device']}, {meta['precision']}, {meta['seconds']:.0f} s)"
    if meta.get("visitor"):
        return (f"**Your run:** {model_name(meta['model'])} on {meta['reviews']:,} rows of {meta['data']}, {how}. "
                f"To reproduce it: `{meta['command']}`")  # fmt: skip
    line = f"**{model_name(meta['model'])}** on {meta['reviews']:,} IMDB {meta.get('split', 'test')} reviews, {how}."
    if meta.get("limit"):
        kind = (
            "a seeded sample that keeps the split's mix of labels and lengths"
            if meta.get("sample") == "length-keeping"
            else "a seeded, label-balanced sample"
        )
        full = meta.get("command", "python -m eval ...").replace(f" --limit {meta['limit']}", "")
        full = full.replace(" --keep-lengths", "")  # only a --limit sample keeps lengths
        full = re.sub(r"--data \S+", f"--data {HUB_ID}", full)  # the run's own path means nothing to a visitor
        line += f" **A sample:** {kind}, not the full split. For the full split: `{full}` (on a GPU, minutes)."
    return line


def readable_table(results: Results, source: str | None = None) -> pd.DataFrame:
    """Every setting with plain column names: percentages, intervals, the comparison with head truncation and the
    cost; tasks without accuracy get their own metrics, rounded."""
    table = compare.settings_table(results)
    if "accuracy" not in table or results.metric != "accuracy":
        view = table[[c for c in METRICS if c in table]].round(4)
        for name in ("mcnemar_p", "wilcoxon_p", "best_p_holm"):
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
                **best_columns(table),
                "ECE": table["ece"].round(4) if "ece" in table else "-",
                "chunks per review": table["chunks_per_review"].round(2),
                "tokens per review": table["tokens_per_review"].round(0),
            }
        )
        if "seconds_per_1k" in table:
            view["seconds per 1,000 reviews"] = table["seconds_per_1k"].round(1)
    if source is not None:
        view.insert(0, "source", source)
    return view


def best_columns(table: pd.DataFrame) -> dict:
    """The table's comparison with the best setting: points (95%), Holm's adjusted p, and whether it is
    indistinguishable from the best."""
    if "best_diff" not in table:
        return {}
    points = 100 * table[["best_diff", "best_diff_low", "best_diff_high"]]
    return {
        "vs best, points (95%)": [f"{d:+.2f} ({lo:+.2f} to {hi:+.2f})" for d, lo, hi in points.to_numpy()],
        "Holm p vs best": [f"{p:.2g}" for p in table["best_p_holm"]],
        "indistinguishable from best": ["yes" if near else "" for near in table["near_best"]],
    }


TABLE_NOTE = (
    "Accuracy with its 95% Wilson interval; the difference from head truncation (the first 510 tokens) in "
    "percentage points with a paired 95% interval and McNemar's exact p; gains / losses: the reviews it gets right "
    "that head gets wrong, and the reverse; the difference from the best setting with McNemar's p adjusted by "
    "Holm's method over all the settings compared (family-wise 5%): \"indistinguishable\" settings can't be told "
    "apart from the best on these reviews; ECE: expected calibration error of P(positive), ten bins; what each "
    "setting scores per review."
)

NOISE_NOTE = (
    "The best of many noisy estimates is biased upward: on other reviews it would most likely score lower. Outlined "
    "cells can't be told apart from the best (paired McNemar tests, Holm-adjusted at 5%); any of them is as good a "
    "choice on this evidence, so prefer the cheapest."
)


def contrast(table: pd.DataFrame, metric: str) -> list[str]:
    """Two settings worth drawing by length at first: the best, and the best of another chunk size."""
    ranked = table.sort_values(metric, ascending=metric in compare.LOWER_IS_BETTER)
    best = ranked.iloc[0]
    other = ranked[(ranked["chunk_size"] != best["chunk_size"]) & (ranked["kind"] != "truncation")]
    return [best["setting"], *other["setting"].head(1)]


METRIC_CHOICES = ("accuracy", "f1", "roc_auc", "log_loss", "brier", "micro_f1", "macro_f1", "mae", "rmse", "r2")


def metric_choices(table: pd.DataFrame) -> list[str]:
    """The metrics the picker offers for a results set: those its task's rows hold (accuracy, micro-F1 or MAE ...)."""
    return [m for m in METRIC_CHOICES if m in table]


def table_and_metric(label: str, metric: str, request: gr.Request | None = None) -> tuple[pd.DataFrame, str]:
    """A set's settings table, and the metric asked for where the set has it, else the set's own (a picker still
    showing the previous set's metric draws this set's)."""
    results = results_of(label, request)
    table = compare.settings_table(results)
    return table, metric if metric in table else results.metric


def heatmap(label: str, metric: str, pooling: str, minimal_share: str, bucket: str, request: gr.Request = None):
    table, metric = table_and_metric(label, metric, request)
    return figures.heatmap_figure(table, metric, pooling, minimal_share, bucket, results_of(label, request).metric)


def length_lines(label: str, settings: list[str], request: gr.Request = None):
    """Accuracy by length decile of at most five chosen settings, with head 510 always drawn as the reference."""
    results = results_of(label, request)
    known = set(results.settings)
    chosen = [s for s in ([settings] if isinstance(settings, str) else settings or []) if s in known][:5]
    shown = list(dict.fromkeys(([results.baseline] if results.baseline in known else []) + chosen))
    return figures.length_figure(compare.by_length(results, shown), results.metric, results.baseline)


def cost_chart(label: str, metric: str, cost: str, request: gr.Request = None):
    return figures.cost_figure(*table_and_metric(label, metric, request), cost)


def setting_names(label: str, request: gr.Request = None) -> list[str]:
    return results_of(label, request).settings


def best_setting(results: Results) -> str:
    """The set's best setting by its own metric."""
    table = compare.settings_table(results)
    return table.sort_values(results.metric, ascending=results.metric in compare.LOWER_IS_BETTER)["setting"].iloc[0]


def setting_picker(label: str, best: bool, request: gr.Request | None = None) -> gr.Dropdown:
    """A/B's setting picker for a newly picked results set: its settings, starting at head truncation (A) or the
    set's best (B)."""
    try:
        results = results_of(label, request)
    except LongbertError:
        return gr.Dropdown(choices=[], value=None)
    start = best_setting(results) if best else results.baseline if results.baseline in results.settings else None
    return gr.Dropdown(choices=results.settings, value=start)


def setting_picker_a(label: str, request: gr.Request = None) -> gr.Dropdown:
    return setting_picker(label, False, request)


def setting_picker_b(label: str, request: gr.Request = None) -> gr.Dropdown:
    return setting_picker(label, True, request)


def ab_compare(label_a: str, setting_a: str, label_b: str, setting_b: str, request: gr.Request = None):
    """Markdown, figure and table of A against B on the reviews both scored; a message where they cannot pair."""
    try:
        a, b = results_of(label_a, request), results_of(label_b, request)
        if setting_a not in a.settings or setting_b not in b.settings:
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
    table = disagreement_view(result["disagreements"], a.task)
    text += f" They disagree on {len(table):,} reviews: select one to open it in the demo with both settings."
    return text, figures.ab_figure(result, setting_a, setting_b), table


TRUTH = "true label"


def disagreement_view(table: pd.DataFrame, task) -> pd.DataFrame:
    """Where A and B disagree, as people read it: the true label by name, probabilities to three decimals or as
    many more as keep them on their side of 0.5; values (regression) to three decimals."""
    view = table.copy()
    if task.values:
        return view.round(3)
    if "label" in view and task.activation == "softmax":
        view.insert(list(view.columns).index("label"), TRUTH, [task.labels[int(k)] for k in view.pop("label")])
    for column in ("A", "B"):
        view[column] = [views.probability_text(p) for p in view[column]]
    return view.rename(columns={"A": f"A: P({task.labels[-1]})", "B": f"B: P({task.labels[-1]})"})


def true_label(row: pd.Series, task) -> object:
    """A disagreement row's label as the results store it (the view shows it by name)."""
    if TRUTH in row:
        return task.labels.index(row[TRUTH])
    return row.get("label")


def ab_calibration(label_a: str, setting_a: str, label_b: str, setting_b: str, request: gr.Request = None):
    """The reliability diagram of A and B, each on its own set's reviews (None until both are picked)."""
    try:
        a, b = results_of(label_a, request), results_of(label_b, request)
        if a.task.values:
            return figures.message_figure("Calibration is of probabilities: these results hold values")
        curves = {f"A {setting_a}": compare.reliability(a, [setting_a])[setting_a],
                  f"B {setting_b}": compare.reliability(b, [setting_b])[setting_b]}  # fmt: skip
    except (LongbertError, KeyError):
        return None
    return figures.reliability_figure(curves)


def review_text(review_id, *sets: Results, label=None) -> str | None:
    """A review's text from the results sets' disagreement files, else from the reviews LONGBERT_IMDB names; label
    tells apart the two reviews of each id (IMDB numbers negative and positive reviews separately)."""

    def find(frame: pd.DataFrame) -> str | None:
        match = frame["review_id"] == review_id
        if label is not None and "label" in frame:
            match &= frame["label"] == label
        return str(frame.loc[match, "text"].iloc[0]) if match.any() else None

    for results in sets:
        if "review_id" in results.disagreements and (text := find(results.disagreements)) is not None:
            return text
    with contextlib.suppress(LongbertError, KeyError):
        return find(load_imdb("test", review_source()))
    return None


def open_pair(label_a: str, setting_a: str, label_b: str, setting_b: str, table: pd.DataFrame, event: gr.SelectData,
              request: gr.Request = None):  # fmt: skip
    """Selecting a review where A and B disagree opens it in the demo with A and B set and compare mode on (the
    sliders' remembered shares are cleared: the settings are taken as they are)."""
    keep = (gr.update(),) * 15
    if event is None or event.index is None or table is None or len(table) == 0:
        return keep
    row = table.iloc[event.index[0]]
    a = results_of(label_a, request)
    text = review_text(row.get("review_id"), a, results_of(label_b, request), label=true_label(row, a.task))
    if text is None:
        return keep
    opened = (*controls_for(setting_a), True, *controls_for(setting_b), gr.Tabs(selected="demo"))
    return views.readable(text), *opened, None, None
