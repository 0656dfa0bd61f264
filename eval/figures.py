"""Plotly figures of evaluation results and of one prediction's chunks; used by the results writer and the app."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from eval.metrics import BUCKETS
from longbert.tasks import MULTI_LABEL, REGRESSION, first_output

BLUE, ORANGE, GREY = "#3b6fb6", "#e07b39", "#888888"


NAMES = {"accuracy": "Accuracy", "micro_f1": "Micro-F1", "mae": "MAE"}


def metric_of(summary: dict) -> str:
    """The metric a results summary is ranked by: accuracy, micro_f1 (multi-label) or mae (regression)."""
    return summary["meta"].get("metric", "accuracy")


def accuracy_figure(summary: dict) -> go.Figure:
    """The main metric per setting (with 95% intervals where it has them), best last; truncations in orange."""
    metric = metric_of(summary)
    rows = sorted(summary["rows"], key=lambda r: r[metric], reverse=metric == "mae")
    interval = all(f"{metric}_low" in r for r in rows)
    figure = go.Figure(
        go.Bar(
            x=[r[metric] for r in rows],
            y=[r["setting"] for r in rows],
            orientation="h",
            marker_color=[ORANGE if r["strategy"].startswith(("head", "tail")) else BLUE for r in rows],
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [r[f"{metric}_high"] - r[metric] for r in rows],
                "arrayminus": [r[metric] - r[f"{metric}_low"] for r in rows],
            }
            if interval
            else None,
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    low = min(r[f"{metric}_low"] if interval else r[metric] for r in rows)
    high = max(r[f"{metric}_high"] if interval else r[metric] for r in rows)
    span = max(high - low, 1e-3)
    figure.update_layout(
        title=f"{NAMES[metric]}{' with 95% interval' if interval else ''} ({summary['meta']['reviews']:,} reviews)",
        xaxis={"title": metric, "range": [max(0.0, low - span * 0.5), high + span * 0.5]},
        height=max(300, 24 * len(rows) + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def bucket_figure(summary: dict) -> go.Figure:
    """The main metric by review length (<=510, 511-1024, >1024 tokens) for each setting."""
    metric = metric_of(summary)
    figure = go.Figure()
    for row in summary["rows"]:
        figure.add_trace(
            go.Bar(
                name=row["setting"],
                x=[f"{b} (n={row['buckets'][b]['n']})" for b in BUCKETS],
                y=[row["buckets"][b][metric] for b in BUCKETS],
            )
        )
    # The axis starts just below the lowest bar: settings differ by tenths of a point, invisible from 0.
    values = [r["buckets"][b][metric] for r in summary["rows"] for b in BUCKETS if r["buckets"][b]["n"]]
    bounded = metric != "mae"
    axis = {"title": metric}
    if bounded and values:
        axis["range"] = [max(0.0, min(values) - 0.02), 1.0]
    figure.update_layout(
        title=f"{NAMES[metric]} by review length in tokens",
        barmode="group",
        yaxis=axis,
        legend={"font": {"size": 10}},
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def grid_figure(summary: dict) -> go.Figure:
    """The main metric of every chunking (rows) under every pooling (columns)."""
    metric = metric_of(summary)
    rows = [r for r in summary["rows"] if r["strategy"].startswith(("chunk", "sentences"))]
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    poolings = list(dict.fromkeys(r["pooling"] for r in rows))
    value = {(r["strategy"], r["pooling"]): r[metric] for r in rows}
    z = [[value.get((s, p)) for p in poolings] for s in strategies]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=poolings,
            y=strategies,
            colorscale="Blues",
            texttemplate="%{z:.4f}",
            hovertemplate="%{y} %{x}: %{z:.4f}",
        )
    )
    figure.update_layout(title=f"{NAMES[metric]} over the settings grid", margin={"l": 10, "r": 10, "t": 50, "b": 40})
    return figure


def all_figures(summary: dict) -> dict[str, go.Figure]:
    return {"accuracy": accuracy_figure(summary), "buckets": bucket_figure(summary), "grid": grid_figure(summary)}


def write_figures(summary: dict, results_dir: Path) -> None:
    """A results directory's figures/*.json, drawn from its summary (the results writer and main share this)."""
    (results_dir / "figures").mkdir(exist_ok=True)
    for name, figure in all_figures(summary).items():
        (results_dir / "figures" / f"{name}.json").write_text(figure.to_json())


def chunk_figure(chunk_positive: list[float], pooled: float | None, pooling: str, label: str = "positive") -> go.Figure:
    """A bar per chunk of its positive-class probability, with lines for the pooled value and 0.5."""
    figure = go.Figure(
        go.Bar(
            x=[f"{i + 1}" for i in range(len(chunk_positive))],
            y=chunk_positive,
            marker_color=[BLUE if p >= 0.5 else ORANGE for p in chunk_positive],
            hovertemplate="chunk %{x}: %{y:.3f}<extra></extra>",
        )
    )
    figure.add_hline(y=0.5, line_dash="dot", line_color=GREY, annotation_text="0.5")
    if pooled is not None:
        figure.add_hline(y=pooled, line_color="black", annotation_text=f"{pooling}: {pooled:.3f}")
    figure.update_layout(
        title=f"P({label}) per chunk",
        xaxis={"title": "chunk", "type": "category"},
        yaxis={"title": f"P({label})", "range": [0, 1]},
        height=320,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def prediction_figure(prediction, labels: list[str], pooling: str, threshold: float = 0.5) -> go.Figure:
    """One prediction's chunks as the task shows them: P(class 1) for two classes, the top class's probability
    for more, a bar per label (grouped) for multi-label, the value for regression; the pooled answer as a line."""
    chunks = prediction.chunks
    if prediction.task == REGRESSION:
        values = [first_output(c.value) for c in chunks]
        pooled = first_output(prediction.value)
        figure = go.Figure(go.Bar(x=[str(i + 1) for i in range(len(values))], y=values, marker_color=BLUE,
                                  hovertemplate="chunk %{x}: %{y:.3f}<extra></extra>"))  # fmt: skip
        figure.add_hline(y=pooled, line_color="black", annotation_text=f"{pooling}: {pooled:.3f}")
        figure.update_layout(title="Value per chunk", xaxis={"title": "chunk", "type": "category"}, height=320,
                             margin={"l": 10, "r": 10, "t": 50, "b": 40})  # fmt: skip
        return figure
    if prediction.task == MULTI_LABEL:
        figure = go.Figure([
            go.Bar(name=label, x=[str(i + 1) for i in range(len(chunks))], y=[c.probabilities[j] for c in chunks],
                   hovertemplate=f"{label}, chunk %{{x}}: %{{y:.3f}}<extra></extra>")
            for j, label in enumerate(labels)
        ])  # fmt: skip
        figure.add_hline(y=threshold, line_dash="dot", line_color=GREY, annotation_text=f"threshold {threshold:g}")
        figure.update_layout(title="P(label) per chunk", barmode="group", yaxis={"range": [0, 1]}, height=340,
                             xaxis={"title": "chunk", "type": "category"}, legend={"orientation": "h", "y": -0.25},
                             margin={"l": 10, "r": 10, "t": 50, "b": 40})  # fmt: skip
        return figure
    if len(labels) == 2:
        return chunk_figure([c.probabilities[1] for c in chunks], prediction.probabilities[1], pooling, labels[1])
    return chunk_figure([max(c.probabilities) for c in chunks], None, pooling, "top class")


def main(argv: list[str] | None = None) -> None:
    """python -m eval.figures RESULTS_DIR: draw a results directory's figures/*.json (where plotly was missing)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m eval.figures", description=main.__doc__)
    parser.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    write_figures(json.loads((args.results / "summary.json").read_text()), args.results)


if __name__ == "__main__":
    main()
