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
# Legends sit below the plot, far enough down to clear the x-axis title while the plot keeps 150 px or more (a
# legend placed by the container instead breaks plotly when the chart is replaced by one without a legend).
LEGEND_BELOW = {"orientation": "h", "y": -0.3, "yanchor": "top", "x": 0, "font": {"size": 11}}
PERCENT = {"accuracy", "f1", "subset_accuracy", "micro_f1", "macro_f1"}


def titled(title: str, *lines: str) -> dict:
    """Layout for a title with short subtitle lines (plotly does not wrap them: at 400 px a long one is cut), held
    at the top, and a top margin that fits them."""
    title = {"text": title, "subtitle": {"text": "<br>".join(lines)}, "y": 1, "yanchor": "top", "pad": {"t": 32}}
    return {"title": title, "margin": {"l": 10, "r": 10, "t": 76 + 16 * len(lines), "b": 40}}  # below the "Plot" badge


def value_text(metric: str, value: float) -> str:
    """A metric's value as the dashboard writes it: percentages for proportions, else three decimals."""
    if value != value:
        return "-"
    return f"{value:.2%}" if metric in PERCENT else f"{value:.3f}"


def message_figure(message: str) -> go.Figure:
    """An empty figure that says why it is empty."""
    figure = go.Figure()
    hidden = {"visible": False, "type": "linear", "range": [0, 1]}  # a log axis left by the chart it replaces fails
    figure.update_layout(title=message, xaxis=hidden, yaxis=hidden, height=120,
                         margin={"l": 10, "r": 10, "t": 50, "b": 10})  # fmt: skip
    return figure


def colour_floor(chosen, metric: str, bucket: str) -> float:
    """The least span the heatmap's colour scale gets: twice the typical width of a cell's 95% interval, so that
    differences inside the noise look alike; 0 for a metric without intervals."""
    low, high = compare.metric_column(f"{metric}_low", bucket), compare.metric_column(f"{metric}_high", bucket)
    widths = (chosen[high] - chosen[low]).dropna() if low in chosen and high in chosen else []
    return 2 * float(np.median(widths)) if len(widths) else 0.0


def heatmap_figure(table, metric: str, pooling: str, minimal_share: str, bucket: str = compare.ALL,
                   ranked_by: str | None = None) -> go.Figure:  # fmt: skip
    """The metric over chunk_size x stride for one pooling and minimal chunk size. Cells not distinguishable from
    the best of all settings (Holm-adjusted, where the metric is the one settings are ranked by) are outlined; the
    colour scale spans at least twice the typical 95% interval; n, the interval and the cost are on hover."""
    cells = compare.heatmap_cells(table, metric, pooling, minimal_share, bucket)
    if cells.shape[0] < 2 and cells.shape[1] < 2:
        return message_figure("These results hold no grid of chunk sizes and strides: the settings-space study does")
    column = compare.metric_column(metric, bucket)
    chosen = compare.chunkings_of(table, pooling, minimal_share)
    lookup = {(r["stride_share"], r["chunk_size"]): r for _, r in chosen.iterrows()}
    low_col, high_col = compare.metric_column(f"{metric}_low", bucket), compare.metric_column(f"{metric}_high", bucket)
    near_col, n_col = compare.metric_column("near_best", bucket), compare.metric_column("n", bucket)
    marked = metric == ranked_by and near_col in table

    def hover(share: str, size: int) -> str:
        row = lookup.get((share, size))
        if row is None:
            return ""
        interval = ""
        if low_col in row:
            interval = f" (95% {value_text(metric, row[low_col])} to {value_text(metric, row[high_col])})"
        near = ""
        if marked:
            near = "<br>not distinguishable from the best" if row[near_col] else "<br>below the best (Holm, 5%)"
        cost = f"{row['chunks_per_review']:.2f} chunks, {row['tokens_per_review']:.0f} tokens per review"
        value = f"{metric}: {value_text(metric, row[column])}{interval}, n={row[n_col]:,.0f}"
        return f"{row['setting']}<br>{value}{near}<br>{cost}"

    x = [str(c) for c in cells.columns]
    values = cells.to_numpy(dtype=float)
    lower = metric in compare.LOWER_IS_BETTER
    everything = table[column].dropna()
    best = float(everything.min() if lower else everything.max())
    floor = colour_floor(chosen, metric, bucket)
    far = float(np.nanmax(values) if lower else np.nanmin(values))
    far = max(far, best + floor) if lower else min(far, best - floor)
    figure = go.Figure(
        go.Heatmap(
            z=values, x=x, y=list(cells.index), text=[[value_text(metric, v) for v in row] for row in values],
            texttemplate="%{text}", customdata=[[hover(s, c) for c in cells.columns] for s in cells.index],
            hovertemplate="%{customdata}<extra></extra>", zmin=min(best, far), zmax=max(best, far),
            colorscale="Blues_r" if lower else "Blues", colorbar={"thickness": 10},
        )
    )  # fmt: skip
    n = int(table[n_col].max()) if n_col in table else 0
    subtitle = [f"n = {n:,} reviews"]
    if marked:
        best_name = table.loc[everything.idxmin() if lower else everything.idxmax(), "setting"]
        subtitle = [f"n = {n:,} reviews; best of all {len(everything)} settings:", best_name,
                    "outlined: can't be told from it (Holm, 5%)"]  # fmt: skip
        outlined = [(i, j) for i, share in enumerate(cells.index) for j, size in enumerate(cells.columns)
                    if (row := lookup.get((share, size))) is not None and row[near_col]]  # fmt: skip
        for i, j in outlined:
            figure.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                             line={"color": ORANGE, "width": 2})  # fmt: skip
    where = "" if bucket == compare.ALL else f", {bucket}"
    figure.update_layout(
        **titled(f"{metric}: {pooling}, minimal {minimal_share}{where}", *subtitle),
        xaxis={"title": "chunk_size (tokens)", "type": "category"},
        yaxis={"title": "stride (share of chunk_size)", "type": "category", "autorange": "reversed"},
        height=400,
    )
    return figure


def length_figure(lines, metric: str, reference: str = BASELINE) -> go.Figure:
    """The metric per review-length decile as one line per setting with its 95% band where the metric has one; the
    reference (head truncation) drawn last, black and dashed, so no line hides it; n on hover."""
    figure = go.Figure()
    groups = list(lines.groupby("setting", sort=False))
    groups.sort(key=lambda group: group[0] == reference)  # the reference on top
    for index, (setting, rows) in enumerate(groups):
        is_reference = setting == reference
        colour = "#000000" if is_reference else PALETTE[index % len(PALETTE)]
        banded = rows["low"].notna().all()
        if banded:
            figure.add_trace(go.Scatter(
                x=[*rows["name"], *rows["name"][::-1]], y=[*rows["high"], *rows["low"][::-1]], fill="toself",
                fillcolor=faded(colour, 0.05 if is_reference else 0.14), line={"width": 0}, hoverinfo="skip",
                legendgroup=setting, showlegend=False,
            ))  # fmt: skip
        interval = [f" (95% {value_text(metric, lo)} to {value_text(metric, hi)})" if banded else ""
                    for lo, hi in zip(rows["low"], rows["high"])]  # fmt: skip
        figure.add_trace(
            go.Scatter(
                x=rows["name"], y=rows["value"], name=setting, mode="lines+markers", legendgroup=setting,
                line={"color": colour, "dash": "dash" if is_reference else "solid", "width": 3 if is_reference else 2},
                customdata=[f"{v}, n={n}" for v, n in zip(interval, rows["n"])],
                hovertemplate=f"{setting}<br>%{{x}} tokens: %{{y:.4f}}%{{customdata}}<extra></extra>",
            )
        )  # fmt: skip
    n = int(lines.groupby("setting")["n"].sum().max()) if len(lines) else 0
    figure.update_layout(
        **titled(f"{metric} by length (token deciles)", f"{n:,} reviews, about {n // 10:,} a decile",
                 "bands: 95% intervals"),
        xaxis={"type": "category", "tickangle": -45},
        yaxis={"title": metric},
        legend=LEGEND_BELOW,
        height=480,
    )  # fmt: skip
    return figure


def faded(colour: str, alpha: float) -> str:
    """A #rrggbb colour as rgba with the given opacity."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


COSTS = {"tokens_per_review": "tokens scored per review", "chunks_per_review": "chunks per review",
         "seconds_per_1k": "seconds per 1,000 reviews (timed)"}  # fmt: skip


KIND_COLOURS = {"chunk": BLUE, "sentences": "#2a9d5c", "truncation": ORANGE}
POOLING_SYMBOLS = {"mean": "circle", "max": "triangle-up", "logit_mean": "square", "median": "diamond",
                   "weighted_mean": "x"}  # fmt: skip
TRUNCATION_SYMBOLS = {"head": "star", "tail": "star-triangle-up", "head+tail": "star-square"}


def cost_figure(table, metric: str, cost: str = "tokens_per_review") -> go.Figure:
    """Each setting's metric against its cost: colour tells the kind (chunk, sentences), the marker the pooling, and
    each truncation has its own orange star, so every series is told apart with a short legend (a key for colours
    and one for markers, readable at 400 px); and the frontier of settings no other beats at a lower cost (the ones
    worth their compute)."""
    figure = go.Figure()
    table = table.dropna(subset=[cost, metric]) if cost in table else table.iloc[:0]
    if table.empty:
        return message_figure(f"These results do not record {COSTS.get(cost, cost)}")
    truncation = table["kind"] == "truncation"
    marker = np.where(truncation, table["strategy"].str.split().str[0], table["pooling"])
    for (kind, name), rows in table.groupby([table["kind"], marker], sort=False):
        symbols = TRUNCATION_SYMBOLS if kind == "truncation" else POOLING_SYMBOLS
        figure.add_trace(go.Scatter(x=rows[cost], y=rows[metric], name=name, mode="markers",
                                    marker={"color": KIND_COLOURS.get(kind, GREY), "size": 9,
                                            "symbol": symbols.get(name, "circle-open"),
                                            "line": {"width": 1, "color": "white"}},
                                    text=rows["setting"], showlegend=kind == "truncation",
                                    hovertemplate="%{text}<br>%{x:.3g}: %{y:.4f}<extra></extra>"))  # fmt: skip
    kinds = [k for k in KIND_COLOURS if k != "truncation" and (table["kind"] == k).any()]
    poolings = [p for p in POOLING_SYMBOLS if (table.loc[~truncation, "pooling"] == p).any()]
    keys = [(k, {"color": KIND_COLOURS[k], "symbol": "square"}) for k in kinds]
    keys += [(p, {"color": GREY, "symbol": POOLING_SYMBOLS[p]}) for p in poolings]
    for name, look in keys:  # the legend's key: markers of no data, one per colour and one per symbol
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, marker=look | {"size": 9},
                                    hoverinfo="skip"))  # fmt: skip
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
        **titled(
            f"{metric} against cost (log scale)", "colour: chunks cut as; marker: pooling;", "orange stars: truncations"
        ),
        xaxis={"title": COSTS.get(cost, cost), "type": "log"},
        yaxis={"title": metric},
        legend=LEGEND_BELOW | {"y": -0.35},  # short names: several a row at 400 px
        height=580,
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


def reliability_figure(curves: dict[str, dict]) -> go.Figure:
    """Reliability diagram: for each setting (name -> eval.metrics.calibration) the observed frequency against the
    mean prediction per bin, marker area by n, its ECE in the legend; on the diagonal a setting is calibrated."""
    what = next((bins["what"] for bins in curves.values() if bins), "probability")
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="calibrated", hoverinfo="skip",
                                line={"color": GREY, "dash": "dot", "width": 1}))  # fmt: skip
    for index, (name, bins) in enumerate(curves.items()):
        if not bins:
            continue
        total = max(sum(bins["n"]), 1)
        figure.add_trace(go.Scatter(
            x=bins["predicted"], y=bins["observed"], mode="lines+markers", name=f"{name} (ECE {bins['ece']:.3f})",
            marker={"size": [6 + 24 * (n / total) ** 0.5 for n in bins["n"]], "color": PALETTE[index % len(PALETTE)]},
            line={"color": PALETTE[index % len(PALETTE)]}, customdata=bins["n"],
            hovertemplate=f"{name}<br>predicted %{{x:.3f}}, observed %{{y:.3f}}, n=%{{customdata:,}}<extra></extra>",
        ))  # fmt: skip
    figure.update_layout(
        **titled(
            "Calibration: reliability diagram",
            f"{what} in ten equal-width bins;",
            "below the diagonal: surer than it is right",
        ),
        xaxis={"title": f"mean predicted {what}", "range": [0, 1]},
        yaxis={"title": "observed frequency", "range": [0, 1]},
        legend=LEGEND_BELOW,
        height=480,
    )
    return figure


def all_figures(results: Results) -> dict[str, go.Figure]:
    """The figures a results directory keeps (figures/*.json): the ranking, and for a settings-space study its
    heatmap and cost figure; for a few settings the per-bucket bars; accuracy by length; the reliability diagram of
    head truncation and the best setting."""
    metric = results.metric
    figures = {"accuracy": accuracy_figure(results), "grid": grid_figure(results)}
    table = compare.settings_table(results)
    if len(results.rows) <= len(PALETTE) * 2:
        figures["buckets"] = bucket_figure(results)
    chunked = table[table["kind"] == "chunk"]
    if chunked["chunk_size"].nunique() > 1 and chunked["stride_share"].nunique() > 1:
        figures["heatmap"] = heatmap_figure(table, metric, "mean", "1 token", ranked_by=metric)
        figures["cost"] = cost_figure(table, metric)
    top = table.sort_values(metric, ascending=metric in compare.LOWER_IS_BETTER)["setting"].head(4).tolist()
    shown = list(dict.fromkeys([results.baseline, *top])) if results.baseline in set(table["setting"]) else top
    figures["lengths"] = length_figure(compare.by_length(results, shown), metric)
    if not results.task.values:
        pair = list(dict.fromkeys(shown[:2]))
        figures["calibration"] = reliability_figure(compare.reliability(results, pair))
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
