"""Plotly figures of evaluation results and of one prediction's chunks; used by the results writer and the app."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from eval.metrics import BUCKETS

BLUE, ORANGE, GREY = "#3b6fb6", "#e07b39", "#888888"


def accuracy_figure(summary: dict) -> go.Figure:
    """Accuracy per setting with 95% intervals, best first; truncations in orange."""
    rows = sorted(summary["rows"], key=lambda r: r["accuracy"])
    figure = go.Figure(
        go.Bar(
            x=[r["accuracy"] for r in rows],
            y=[r["setting"] for r in rows],
            orientation="h",
            marker_color=[ORANGE if r["strategy"].startswith(("head", "tail")) else BLUE for r in rows],
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [r["accuracy_high"] - r["accuracy"] for r in rows],
                "arrayminus": [r["accuracy"] - r["accuracy_low"] for r in rows],
            },
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    low, high = min(r["accuracy_low"] for r in rows), max(r["accuracy_high"] for r in rows)
    figure.update_layout(
        title=f"Accuracy with 95% interval ({summary['meta']['reviews']:,} reviews)",
        xaxis={"title": "accuracy", "range": [max(0.0, low - 0.01), min(1.0, high + 0.01)]},
        height=max(300, 24 * len(rows) + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def bucket_figure(summary: dict) -> go.Figure:
    """Accuracy by review length (<=510, 511-1024, >1024 tokens) for each setting."""
    figure = go.Figure()
    for row in summary["rows"]:
        figure.add_trace(
            go.Bar(
                name=row["setting"],
                x=[f"{b} (n={row['buckets'][b]['n']})" for b in BUCKETS],
                y=[row["buckets"][b]["accuracy"] for b in BUCKETS],
            )
        )
    # The axis starts just below the lowest bar: settings differ by tenths of a point, invisible from 0.
    lowest = min((r["buckets"][b]["accuracy"] for r in summary["rows"] for b in BUCKETS), default=0.0)
    figure.update_layout(
        title="Accuracy by review length in tokens",
        barmode="group",
        yaxis={"title": "accuracy", "range": [max(0.0, lowest - 0.02), 1.0]},
        legend={"font": {"size": 10}},
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def grid_figure(summary: dict) -> go.Figure:
    """Accuracy of every chunking (rows) under every pooling (columns)."""
    rows = [r for r in summary["rows"] if r["strategy"].startswith("chunk")]
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    poolings = list(dict.fromkeys(r["pooling"] for r in rows))
    value = {(r["strategy"], r["pooling"]): r["accuracy"] for r in rows}
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
    figure.update_layout(title="Accuracy over the settings grid", margin={"l": 10, "r": 10, "t": 50, "b": 40})
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
