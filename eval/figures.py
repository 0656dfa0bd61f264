"""Plotly figures of evaluation results and of one prediction's chunks; used by the results writer and the app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from eval import compare
from eval.metrics import BUCKETS
from eval.results import BASELINE, Results, is_truncation

BLUE, ORANGE, GREY = "#3b6fb6", "#e07b39", "#888888"


NAMES = {"accuracy": "Accuracy", "micro_f1": "Micro-F1", "mae": "MAE"}


def accuracy_figure(results: Results, top: int = 24) -> go.Figure:
    """The main metric per setting (with 95% intervals where it has them), best last; truncations in orange.
    Of many settings only the best `top` and the truncations are drawn."""
    metric = results.metric
    rows = sorted(results.rows, key=lambda r: r[metric], reverse=metric in compare.LOWER_IS_BETTER)
    if len(rows) > top:
        truncations = {r["setting"] for r in rows if is_truncation(r["setting"])}
        kept = {r["setting"] for r in rows[-top:]} | truncations
        rows = [r for r in rows if r["setting"] in kept]
    interval = all(f"{metric}_low" in r for r in rows)
    figure = go.Figure(
        go.Bar(
            x=[r[metric] for r in rows],
            y=[r["setting"] for r in rows],
            orientation="h",
            marker_color=[ORANGE if is_truncation(r["setting"]) else BLUE for r in rows],
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
        title=f"{NAMES[metric]}{' with 95% interval' if interval else ''} ({results.reviews:,} reviews)",
        xaxis={"title": metric, "range": [max(0.0, low - span * 0.5), high + span * 0.5]},
        height=max(300, 24 * len(rows) + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def bucket_figure(results: Results) -> go.Figure:
    """The main metric by review length (<=510, 511-1024, >1024 tokens) for each setting."""
    metric = results.metric
    figure = go.Figure()
    colours = plotly.colors.qualitative.Dark24
    for index, row in enumerate(results.rows):
        figure.add_trace(
            go.Bar(
                name=row["setting"],
                marker_color=colours[index % len(colours)],
                x=[f"{b} (n={row['buckets'][b]['n']})" for b in BUCKETS],
                y=[row["buckets"][b][metric] for b in BUCKETS],
            )
        )
    # The axis starts just below the lowest bar: settings differ by tenths of a point, invisible from 0.
    values = [r["buckets"][b][metric] for r in results.rows for b in BUCKETS if r["buckets"][b]["n"]]
    bounded = metric != "mae"
    axis = {"title": metric}
    if bounded and values:
        axis["range"] = [max(0.0, min(values) - 0.02), 1.0]
    figure.update_layout(
        title=f"{NAMES[metric]} by review length in tokens",
        barmode="group",
        yaxis=axis,
        legend=LEGEND_BELOW,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def grid_figure(results: Results) -> go.Figure:
    """The main metric of every chunking (rows) under every pooling (columns)."""
    metric = results.metric
    rows = [r for r in results.rows if not is_truncation(r["setting"])]
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


PALETTE = ("#3b6fb6", "#e07b39", "#2a9d5c", "#c0392b", "#8e44ad", "#7f6a00", "#17a2b8", "#d63384")
LEGEND_BELOW = {"orientation": "h", "y": -0.3, "x": 0, "font": {"size": 11}}
PERCENT = {"accuracy", "f1", "subset_accuracy", "micro_f1", "macro_f1"}


def value_text(metric: str, value: float) -> str:
    """A metric's value as the dashboard writes it: percentages for proportions, else three decimals."""
    if value != value:
        return "-"
    return f"{value:.2%}" if metric in PERCENT else f"{value:.3f}"


def message_figure(message: str) -> go.Figure:
    """An empty figure that says why it is empty."""
    figure = go.Figure()
    figure.update_layout(title=message, xaxis={"visible": False}, yaxis={"visible": False}, height=120,
                         margin={"l": 10, "r": 10, "t": 50, "b": 10})  # fmt: skip
    return figure


def heatmap_figure(table, metric: str, pooling: str, minimal_share: str, bucket: str = compare.ALL) -> go.Figure:
    """The metric over chunk_size x stride for one pooling and minimal chunk size; the best cell boxed and starred,
    its interval, chunks and tokens per review on hover."""
    cells = compare.heatmap_cells(table, metric, pooling, minimal_share, bucket)
    if cells.shape[0] < 2 and cells.shape[1] < 2:
        return message_figure("These results hold no grid of chunk sizes and strides: the settings-space study does")
    column = compare.metric_column(metric, bucket)
    chosen = compare.chunkings_of(table, pooling, minimal_share)
    lookup = {(r["stride_share"], r["chunk_size"]): r for _, r in chosen.iterrows()}
    low_col, high_col = compare.metric_column(f"{metric}_low", bucket), compare.metric_column(f"{metric}_high", bucket)

    def hover(share: str, size: int) -> str:
        row = lookup.get((share, size))
        if row is None:
            return ""
        interval = ""
        if low_col in row:
            interval = f" (95% {value_text(metric, row[low_col])} to {value_text(metric, row[high_col])})"
        return (f"{row['setting']}<br>{metric}: {value_text(metric, row[column])}{interval}<br>"
                f"{row['chunks_per_review']:.2f} chunks, {row['tokens_per_review']:.0f} tokens per review")  # fmt: skip

    x = [str(c) for c in cells.columns]
    figure = go.Figure()
    values = cells.to_numpy(dtype=float)
    best = np.nanargmin(values) if metric in compare.LOWER_IS_BETTER else np.nanargmax(values)
    best_row, best_col = np.unravel_index(best, values.shape)
    text = [[("★ " if (i, j) == (best_row, best_col) else "") + value_text(metric, v) for j, v in enumerate(row)]
            for i, row in enumerate(values)]  # fmt: skip
    figure.add_trace(
        go.Heatmap(
            z=values, x=x, y=list(cells.index), text=text, texttemplate="%{text}",
            customdata=[[hover(s, c) for c in cells.columns] for s in cells.index],
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="Blues_r" if metric in compare.LOWER_IS_BETTER else "Blues", colorbar={"thickness": 10},
        )
    )  # fmt: skip
    figure.add_shape(type="rect", x0=best_col - 0.5, x1=best_col + 0.5, y0=best_row - 0.5, y1=best_row + 0.5,
                     line={"color": ORANGE, "width": 3})  # fmt: skip
    figure.update_layout(
        title=f"{metric}: {pooling}, minimal {minimal_share}" + ("" if bucket == compare.ALL else f", {bucket}"),
        xaxis={"title": "chunk_size (tokens)", "type": "category"},
        yaxis={"title": "stride (share of chunk_size)", "type": "category", "autorange": "reversed"},
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def length_figure(lines, metric: str, reference: str = BASELINE) -> go.Figure:
    """The metric per review-length decile as one line per setting (the reference dashed grey), intervals on hover."""
    figure = go.Figure()
    for index, (setting, rows) in enumerate(lines.groupby("setting", sort=False)):
        is_reference = setting == reference
        interval = [f" (95% {value_text(metric, lo)} to {value_text(metric, hi)})" if lo == lo and lo is not None
                    else "" for lo, hi in zip(rows["low"], rows["high"])]  # fmt: skip
        figure.add_trace(
            go.Scatter(
                x=rows["name"], y=rows["value"], name=setting, mode="lines+markers",
                line={"color": GREY if is_reference else PALETTE[index % len(PALETTE)],
                      "dash": "dash" if is_reference else "solid"},
                customdata=[f"{v}, n={n}" for v, n in zip(interval, rows["n"])],
                hovertemplate=f"{setting}<br>%{{x}} tokens: %{{y:.4f}}%{{customdata}}<extra></extra>",
            )
        )  # fmt: skip
    figure.update_layout(
        title=f"{metric} by length (token deciles)",
        xaxis={"type": "category", "tickangle": -45},
        yaxis={"title": metric},
        legend=LEGEND_BELOW | {"y": -0.35, "yanchor": "top"},
        height=460,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


COSTS = {"tokens_per_review": "tokens scored per review", "chunks_per_review": "chunks per review",
         "seconds_per_1k": "seconds per 1,000 reviews (timed)"}  # fmt: skip


def cost_figure(table, metric: str, cost: str = "tokens_per_review") -> go.Figure:
    """Each setting's metric against its cost, coloured by kind and pooling, with the frontier of settings no other
    beats at a lower cost (the ones worth their compute)."""
    figure = go.Figure()
    table = table.dropna(subset=[cost, metric]) if cost in table else table.iloc[:0]
    if table.empty:
        return message_figure(f"These results do not record {COSTS.get(cost, cost)}")
    groups = table.assign(group=np.where(table["kind"] == "truncation", "truncation",
                                         table["kind"] + " " + table["pooling"]))  # fmt: skip
    for index, (group, rows) in enumerate(groups.groupby("group", sort=False)):
        figure.add_trace(go.Scatter(x=rows[cost], y=rows[metric], name=group, mode="markers",
                                    marker={"color": PALETTE[index % len(PALETTE)], "size": 7},
                                    text=rows["setting"],
                                    hovertemplate="%{text}<br>%{x:.3g}: %{y:.4f}<extra></extra>"))  # fmt: skip
    lower = metric in compare.LOWER_IS_BETTER
    ordered = table.sort_values([cost, metric], ascending=[True, lower])
    frontier, best = [], None
    for _, row in ordered.iterrows():
        if best is None or (row[metric] < best if lower else row[metric] > best):
            frontier.append(row)
            best = row[metric]
    figure.add_trace(go.Scatter(x=[r[cost] for r in frontier], y=[r[metric] for r in frontier], mode="lines",
                                name="frontier", line={"color": "black", "width": 1, "dash": "dot"},
                                hoverinfo="skip"))  # fmt: skip
    figure.update_layout(
        title=f"{metric} against cost (log scale)",
        xaxis={"title": COSTS.get(cost, cost), "type": "log"},
        yaxis={"title": metric},
        legend=LEGEND_BELOW,
        height=460,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def ab_figure(result: dict, name_a: str, name_b: str) -> go.Figure:
    """A minus B per length bucket and overall, with paired 95% intervals; above zero A is better."""
    rows = [{"bucket": "all", "n": result["n"]} | result["paired"]] + result["buckets"]
    key = "accuracy_diff" if "accuracy_diff" in result["paired"] else "mae_diff"
    sign = 1 if key == "accuracy_diff" else -1  # for MAE a smaller error is better: plot B - A
    scale = 100 * sign if key == "accuracy_diff" else sign  # accuracy in percentage points
    values = [scale * r[key] for r in rows]
    ends = [sorted((scale * r["diff_low"], scale * r["diff_high"])) for r in rows]
    figure = go.Figure(
        go.Bar(
            x=[f"{r['bucket']} (n={r['n']:,})" for r in rows],
            y=values,
            error_y={"type": "data", "symmetric": False, "array": [hi - v for v, (_, hi) in zip(values, ends)],
                     "arrayminus": [v - lo for v, (lo, _) in zip(values, ends)]},
            marker_color=[BLUE if v >= 0 else ORANGE for v in values],
            hovertemplate=f"%{{x}}: %{{y:+.{2 if key == 'accuracy_diff' else 4}f}}<extra></extra>",
        )
    )  # fmt: skip
    figure.add_hline(y=0, line_color=GREY)
    figure.update_layout(
        title="A minus B, by length" + (" (points)" if sign > 0 else " (MAE: B - A)"),
        yaxis={"title": "above 0: A better"},
        height=340,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def all_figures(results: Results) -> dict[str, go.Figure]:
    """The figures a results directory keeps (figures/*.json): the ranking, and for a settings-space study its
    heatmap and cost figure; for a few settings the per-bucket bars; accuracy by length."""
    metric = results.metric
    figures = {"accuracy": accuracy_figure(results), "grid": grid_figure(results)}
    table = compare.settings_table(results)
    if len(results.rows) <= len(PALETTE) * 2:
        figures["buckets"] = bucket_figure(results)
    chunked = table[table["kind"] == "chunk"]
    if chunked["chunk_size"].nunique() > 1 and chunked["stride_share"].nunique() > 1:
        figures["heatmap"] = heatmap_figure(table, metric, "mean", "1 token")
        figures["cost"] = cost_figure(table, metric)
    top = table.sort_values(metric, ascending=metric in compare.LOWER_IS_BETTER)["setting"].head(4).tolist()
    shown = list(dict.fromkeys([results.baseline, *top])) if results.baseline in set(table["setting"]) else top
    figures["lengths"] = length_figure(compare.by_length(results, shown), metric)
    return figures


def write_figures(results: Results, results_dir: Path) -> None:
    """A results directory's figures/*.json (the results writer and main share this)."""
    (results_dir / "figures").mkdir(exist_ok=True)
    for name, figure in all_figures(results).items():
        (results_dir / "figures" / f"{name}.json").write_text(figure.to_json())


def main(argv: list[str] | None = None) -> None:
    """python -m eval.figures RESULTS_DIR: draw a results directory's figures/*.json (where plotly was missing)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m eval.figures", description=main.__doc__)
    parser.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    write_figures(Results.load(args.results), args.results)


if __name__ == "__main__":
    main()
