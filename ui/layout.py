"""The page: a Demo tab (one setting, or A beside B) and an Evaluation tab (the dashboard and runs), wired to the
handlers of ui.demo, ui.dashboard and ui.runs."""

from __future__ import annotations

import importlib.util
from typing import NamedTuple

import gradio as gr

from eval import compare, figures
from longbert import POOLINGS
from ui import config, dashboard, demo, explain, links, runs, views, visitor
from ui.config import CHUNK_RANGE, review_source
from ui.controls import CUTS, FIXED
from ui.models import model_choices

# Pressing Enter in a slider's number box applies the value, as leaving the box does: sliders answer on release
# (one request a drag), which Gradio fires when the box loses focus, not on Enter.
ENTER_APPLIES = """() => document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.matches("input[type=number]")) event.target.blur();
}, true)"""
# mcp_server: the MCP tools (classify_text, explain_text and the API's endpoints) where gradio[mcp] is installed.
LAUNCH = {"js": ENTER_APPLIES, "max_file_size": f"{config.MAX_UPLOAD_MB:g}mb",
          "mcp_server": importlib.util.find_spec("mcp") is not None,
          "state_session_capacity": config.SESSIONS}  # fmt: skip
REFIT = "() => { setTimeout(() => window.dispatchEvent(new Event('resize')), 100); }"


class DemoTab(NamedTuple):
    """The demo's inputs other tabs set, and its two runs (A, and B in compare mode) to chain after them."""

    text: gr.Textbox
    model: gr.Dropdown
    controls_a: tuple
    compare_on: gr.Checkbox
    controls_b: tuple
    states: tuple  # what A's and B's sliders last used (ui.controls.Chosen, or None)
    run_a: dict
    run_b: dict


def setting_controls(suffix: str = ""):
    """chunk_size, stride, minimal_chunk_size sliders, the pooling and how chunks are cut, for setting A or B."""
    top = CHUNK_RANGE[1]
    chunk_size = gr.Slider(*CHUNK_RANGE, value=top, step=1, label=f"chunk_size{suffix} (tokens)")
    stride = gr.Slider(1, top, value=top, step=1, label=f"stride{suffix} (<= chunk_size)")
    minimal = gr.Slider(1, top, value=1, step=1, label=f"minimal_chunk_size{suffix}")
    pooling = gr.Dropdown(list(POOLINGS), value="mean", label=f"pooling{suffix}")
    cut = gr.Radio(CUTS, value=FIXED, label=f"chunks{suffix} cut as")
    return chunk_size, stride, minimal, pooling, cut


def demo_tab() -> DemoTab:
    """The review, its examples, setting A (and B), the verdicts, charts and the shaded review, wired."""
    models = model_choices()
    with gr.Row():
        with gr.Column(scale=3, min_width=320):
            text = gr.Textbox(label="Review", lines=10, max_lines=20, placeholder="Paste a long review")
            example_list = gr.Examples([[views.readable(e)] for e in demo.example_reviews()], inputs=[text],
                                       label="IMDB test reviews (pick one to classify it)")  # fmt: skip
        with gr.Column(scale=2, min_width=300):
            hub = config.hub_models()
            model = gr.Dropdown(
                models,
                value=models[0] if models else None,
                label="Model",
                allow_custom_value=hub,
                visible=len(models) > 1 or hub,
                info="or type a Hub id (owner/name) of a BERT-family classifier" if hub else None,
            )
            controls_a = setting_controls()
            compare_on = gr.Checkbox(False, label="Compare with a second setting (B)")
            button = gr.Button("Classify", variant="primary")
        with gr.Column(scale=2, min_width=300, visible=False) as column_b:
            controls_b = setting_controls(" B")
    with gr.Row():
        with gr.Column(min_width=320):
            verdict, chart = gr.Markdown(), gr.Plot(label="Chunks")
        with gr.Column(min_width=320, visible=False) as outputs_b:
            verdict_b, chart_b = gr.Markdown(), gr.Plot(label="Chunks, setting B")
    shaded = gr.HTML()
    explain_button = gr.Button("Explain: which sentences drove it", size="sm", variant="secondary")
    with gr.Row():
        with gr.Column(min_width=320):
            evidence = gr.HTML(elem_id="evidence")
        with gr.Column(min_width=320, visible=False) as evidence_column_b:
            evidence_b = gr.HTML(elem_id="evidence-b")
    evidence_json = gr.JSON(visible=False)
    with gr.Row():
        share = gr.Button("Link to these settings", size="sm", scale=0, min_width=200)
        link = gr.Textbox(show_label=False, buttons=["copy"], interactive=False, scale=4,
                          placeholder="a link that reopens the demo with this model and these settings (pasted text "
                          "stays out of it; an example or a committed review goes in by its id)")  # fmt: skip
    state_a, state_b = gr.State(None), gr.State(None)  # what each setting's sliders last used (ui.controls.Chosen)
    # The API: classify() with its three outputs. The page: demo_live() and demo_b(), which also settle the sliders
    # (clamped alike, stride and minimal following chunk_size); sliders run them on release (one request a drag),
    # other controls on change. A newer request stops the one still scoring ("multiple", then superseded), and the
    # sliders stay usable while a request runs (progress shows on the verdict and chart only).
    button.click(demo.classify, [text, model, *controls_a], [verdict, chart, shaded], api_name="predict",
                 preprocess=False)  # fmt: skip
    page_event = {"api_name": False, "preprocess": False, "trigger_mode": "multiple"}
    run_a = dict(fn=demo.demo_live, inputs=[text, model, *controls_a, compare_on, state_a],
                 outputs=[verdict, chart, shaded, *controls_a[:3], state_a], show_progress_on=[verdict, chart],
                 **page_event)  # fmt: skip
    run_b = dict(fn=demo.demo_b, inputs=[text, model, *controls_b, compare_on, state_b],
                 outputs=[verdict_b, chart_b, *controls_b[:3], state_b], show_progress_on=[verdict_b, chart_b],
                 **page_event)  # fmt: skip
    gr.on([text.submit, *(c.release for c in controls_a[:3]), *(c.change for c in controls_a[3:]), model.change],
          **run_a)  # fmt: skip
    gr.on([button.click, text.submit, *(c.release for c in controls_b[:3]), *(c.change for c in controls_b[3:]),
           model.change, compare_on.change], **run_b)  # fmt: skip
    example_list.load_input_event.then(**run_a).then(**run_b)
    # Explain (ui.explain): on its button only (about a chunk pass per sentence); B's too in compare mode. The view
    # is cleared when the review or a setting changes, so it never stands beside a verdict it does not explain.
    explain_button.click(explain.explain_a, [text, model, *controls_a], [evidence, evidence_json],
                         api_name="explain", preprocess=False, trigger_mode="multiple",
                         show_progress_on=[evidence])  # fmt: skip
    explain_button.click(explain.explain_b, [text, model, *controls_b, compare_on], [evidence_b], api_name=False,
                         preprocess=False, trigger_mode="multiple", show_progress_on=[evidence_b])  # fmt: skip
    gr.on([text.change, model.change, compare_on.change, *(c.change for c in (*controls_a, *controls_b))],
          lambda: ("", ""), None, [evidence, evidence_b], api_name=False, queue=False)  # fmt: skip
    # A's verdict gains (or loses) its "A:" title; its chart is fitted to the column's new width (plotly fits a
    # chart on a window resize only).
    compare_on.change(lambda on: (gr.Column(visible=on),) * 3, [compare_on], [column_b, outputs_b, evidence_column_b],
                      api_name=False, queue=False).then(None, js=REFIT).then(**run_a)  # fmt: skip
    share.click(links.share, [model, text, *controls_a, compare_on, *controls_b], [link], api_name=False)
    # For MCP clients and scripts: one text in, the answer (or its evidence) as JSON out, under the same budgets.
    gr.api(demo.classify_text, api_name="classify_text")
    gr.api(explain.explain_text, api_name="explain_text")
    return DemoTab(text, model, controls_a, compare_on, controls_b, (state_a, state_b), run_a, run_b)


def opened_by_link(app: gr.Blocks, page: DemoTab, tabs: gr.Tabs) -> None:
    """A page opened from a link (ui.links) shows the demo with its model and settings, and classifies."""
    opened = gr.State(False)
    outputs = [opened, page.text, page.model, *page.controls_a, page.compare_on, *page.controls_b, tabs]
    run_a = dict(page.run_a, fn=demo.linked_a, inputs=[opened, *page.run_a["inputs"]])
    run_b = dict(page.run_b, fn=demo.linked_b, inputs=[opened, *page.run_b["inputs"]])
    app.load(links.open_link, None, outputs, api_name=False).then(**run_a).then(**run_b)


def settings_space(labels: list[str]) -> tuple:
    """The heatmap over chunk_size x stride, its pickers, and the results picker with the set's description."""
    first = dashboard.results_at(dashboard.result_sets()[labels[0]])
    table, metric0 = compare.settings_table(first), first.metric
    chosen = gr.Dropdown(labels, value=labels[0], label="Results")
    description = gr.Markdown(dashboard.about(first))
    gr.Markdown("### The settings space: chunk_size x stride")
    with gr.Row():
        metric = gr.Dropdown(dashboard.metric_choices(table), value=metric0, label="metric", min_width=140)
        pool = gr.Dropdown(list(POOLINGS), value="mean", label="pooling", min_width=140)
        shares = sorted(set(table["minimal_share"].dropna()), key=lambda s: -1 if s == "1 token" else int(s[:-1]))
        minimal_share = gr.Dropdown(shares or ["1 token"], value="1 token", label="minimal_chunk_size", min_width=140)
        bucket = gr.Dropdown([compare.ALL, *figures.BUCKETS], value=compare.ALL, label="reviews of length (tokens)",
                             min_width=140)  # fmt: skip
    gr.Markdown(dashboard.NOISE_NOTE)
    heat = gr.Plot(figures.heatmap_figure(table, metric0, "mean", "1 token", ranked_by=metric0))
    heat_inputs = [chosen, metric, pool, minimal_share, bucket]
    gr.on([c.change for c in heat_inputs], dashboard.heatmap, heat_inputs, [heat], api_name=False)
    return chosen, description, metric


def lengths_and_costs(labels: list[str], chosen: gr.Dropdown, metric: gr.Dropdown) -> gr.Dropdown:
    """The metric by review length for chosen settings, and every setting against its cost; returns the picker."""
    first = dashboard.results_at(dashboard.result_sets()[labels[0]])
    table, metric0 = compare.settings_table(first), first.metric
    gr.Markdown("### By review length (head truncation black and dashed, as the reference; bands: 95% intervals)")
    start = dashboard.contrast(table, metric0)
    picked = gr.Dropdown(list(table["setting"]), value=start, multiselect=True, max_choices=5,
                         label="settings (up to five)")  # fmt: skip
    lines = gr.Plot(dashboard.length_lines(labels[0], start))
    gr.Markdown("### Worth their compute? Each setting against what it scores")
    costs = {v: k for k, v in figures.COSTS.items() if k in table or k != "seconds_per_1k"}
    cost = gr.Radio(list(costs), value=next(iter(costs)), label="cost")
    cost_plot = gr.Plot(figures.cost_figure(table, metric0))
    gr.on([picked.change, chosen.change], dashboard.length_lines, [chosen, picked], [lines], api_name=False)
    cost_key = gr.State(next(iter(costs.values())))
    cost.change(lambda c: costs[c], [cost], [cost_key], api_name=False).then(
        dashboard.cost_chart, [chosen, metric, cost_key], [cost_plot], api_name=False
    )
    gr.on([chosen.change, metric.change], dashboard.cost_chart, [chosen, metric, cost_key], [cost_plot],
          api_name=False)  # fmt: skip
    return picked


def a_against_b(labels: list[str], page: DemoTab, tabs: gr.Tabs) -> tuple[gr.Dropdown, gr.Dropdown]:
    """Any two settings compared review by review; selecting a disagreement opens it in the demo with both."""
    names = dashboard.setting_names(labels[0])
    first = dashboard.results_at(dashboard.result_sets()[labels[0]])
    table = compare.settings_table(first)
    best = table.sort_values(first.metric, ascending=first.metric in compare.LOWER_IS_BETTER)["setting"].iloc[0]
    gr.Markdown("### A against B, review by review")
    with gr.Row():
        with gr.Column(min_width=300):
            set_a = gr.Dropdown(labels, value=labels[0], label="A: results")
            start_a = first.baseline if first.baseline in names else None
            setting_a = gr.Dropdown(names, value=start_a, label="A: setting")
        with gr.Column(min_width=300):
            set_b = gr.Dropdown(labels, value=labels[0], label="B: results")
            setting_b = gr.Dropdown(names, value=best, label="B: setting")
    ab_text, ab_plot, ab_table = dashboard.ab_compare(labels[0], start_a, labels[0], best)
    ab_note = gr.Markdown(ab_text)
    with gr.Row():
        with gr.Column(min_width=320):
            ab_chart = gr.Plot(ab_plot)
        with gr.Column(min_width=320):
            ab_calibration = gr.Plot(dashboard.ab_calibration(labels[0], start_a, labels[0], best))
    ab_rows = gr.Dataframe(ab_table, interactive=False, max_height=320, label="Where A and B disagree")
    for which, settings, picker in ((set_a, setting_a, dashboard.setting_picker_a),
                                    (set_b, setting_b, dashboard.setting_picker_b)):  # fmt: skip
        which.change(picker, [which], [settings], api_name=False)
    ab_inputs = [set_a, setting_a, set_b, setting_b]
    gr.on([setting_a.change, setting_b.change], dashboard.ab_compare, ab_inputs, [ab_note, ab_chart, ab_rows],
          api_name="compare")  # fmt: skip
    gr.on([setting_a.change, setting_b.change], dashboard.ab_calibration, ab_inputs, [ab_calibration],
          api_name=False)  # fmt: skip
    opened = [page.text, *page.controls_a, page.compare_on, *page.controls_b, tabs, *page.states]
    ab_rows.select(dashboard.open_pair, [*ab_inputs, ab_rows], opened, api_name=False).then(**page.run_a).then(
        **page.run_b
    )
    return set_a, set_b


def dashboard_section(page: DemoTab, tabs: gr.Tabs) -> tuple:
    """The committed results (and the page's own runs): settings space, lengths and costs, A against B, and every
    setting as a table; returns the three results pickers, which a run sets to its results."""
    labels = list(dashboard.result_sets())
    if not labels:
        gr.Markdown("No committed results yet: run `python -m eval` and set LONGBERT_RESULTS.")
        return ()
    chosen, description, metric = settings_space(labels)
    picked = lengths_and_costs(labels, chosen, metric)
    set_a, set_b = a_against_b(labels, page, tabs)
    gr.Markdown(f"### Every setting\n{dashboard.TABLE_NOTE}")
    first = dashboard.results_at(dashboard.result_sets()[labels[0]])
    every = gr.Dataframe(dashboard.readable_table(first), interactive=False, max_height=480,
                         label="Settings x metrics")  # fmt: skip

    def switch(label, request: gr.Request = None):
        results = dashboard.results_of(label, request)
        table = compare.settings_table(results)
        choices = gr.Dropdown(choices=list(table["setting"]), value=dashboard.contrast(table, results.metric))
        metrics = gr.Dropdown(choices=dashboard.metric_choices(table), value=results.metric)
        return dashboard.about(results), choices, dashboard.readable_table(results), metrics

    chosen.change(switch, [chosen], [description, picked, every, metric], api_name=False)
    return chosen, set_a, set_b


def runs_section(model: gr.Dropdown, pickers: tuple) -> None:
    """Evaluation runs from the page, on a seeded sample of the IMDB test reviews here or of the visitor's own
    labelled file, with Run and Stop; a run's results join the dashboard above, for this page only, with its files
    and the command that reproduces it."""
    gr.Markdown("### Run an evaluation: on IMDB test reviews, or on your own labelled file")
    most = max(runs.available_reviews(review_source()), 10)
    with gr.Row():
        grid = gr.Textbox("510/510/1,510/255/1", label="chunkings CHUNK/STRIDE/MINIMAL")
        poolings = gr.CheckboxGroup(list(POOLINGS), value=["mean", "max"], label="poolings")
    with gr.Tabs():
        with gr.Tab("IMDB test reviews"), gr.Row():
            reviews = gr.Slider(10, most, value=min(100, most), step=10,
                                label=f"reviews (seeded, balanced; {most:,} available here)")  # fmt: skip
            run = gr.Button("Run on IMDB reviews", variant="primary", min_width=160)
        with gr.Tab("Your file"):
            gr.Markdown(
                f"A CSV, JSON lines or parquet file of texts and labels (class names as the model names them, class "
                f"ids, lists of labels, or numbers), at most {config.MAX_UPLOAD_MB:g} MB. It and its results are "
                "this page's alone, and are deleted when the page closes (an hour at the latest)."
            )
            with gr.Row():
                file = gr.File(label="labelled file", file_types=[".csv", ".jsonl", ".parquet"], file_count="single")
                with gr.Column():
                    text_column = gr.Dropdown([], label="text column", allow_custom_value=True)
                    label_column = gr.Dropdown([], label="label column", allow_custom_value=True)
            file_note = gr.Markdown()
            with gr.Row():
                top = config.MAX_UPLOAD_ROWS
                rows = gr.Slider(min(10, top), top, value=top, step=1, label=f"rows (a seeded sample; at most {top:,})")
                run_file = gr.Button("Run on this file", variant="primary", min_width=160)
    stop = gr.Button("Stop")
    run_note = gr.Markdown()
    committed = dashboard.committed_results()
    headers = list(dashboard.readable_table(committed, "").columns) if committed else ["setting"]
    run_table = gr.Dataframe(headers=headers, label="This run (it is also on the dashboard above)",
                             interactive=False)  # fmt: skip
    with gr.Row():
        with gr.Column(min_width=320):
            run_accuracy = gr.Plot(visible=False)
        with gr.Column(min_width=320):
            run_buckets = gr.Plot(visible=False)
    downloads = gr.File(label="download the run: summary.csv and predictions.parquet", file_count="multiple",
                        interactive=False)  # fmt: skip
    how = gr.Markdown()
    outputs = [run_note, run_table, run_accuracy, run_buckets, downloads, how, *pickers]
    if not pickers:  # no committed results: no dashboard to join, the run's pickers go nowhere
        outputs += [gr.State(None) for _ in range(3)]
    # Runs have their own concurrency group, one at a time, so demo requests never queue behind one; the progress
    # bar covers the table only, so the note above it says "Stopping…" the moment Stop is pressed.
    running = {"concurrency_id": "evaluation", "concurrency_limit": 1, "show_progress_on": [run_table],
               "preprocess": False}  # fmt: skip
    run.click(runs.run_evaluation, [model, reviews, grid, poolings], outputs, api_name="evaluate", **running)
    run_file.click(runs.evaluate_file, [file, text_column, label_column, model, rows, grid, poolings], outputs,
                   api_name="evaluate_file", **running)  # fmt: skip
    file.change(runs.inspect_file, [file], [file_note, text_column, label_column], api_name=False, preprocess=False)
    stop.click(runs.stop_evaluation, None, [run_note], api_name=False, queue=False)
    gr.api(runs.scoring_now, api_name="runs")


def build_app() -> gr.Blocks:
    """The whole UI: a Demo tab and an Evaluation tab."""
    # Gradio's copies of uploads go an hour after they came (checked every ten minutes), like the sets made of them.
    with gr.Blocks(title="longbert: BERT for long texts", delete_cache=(600, int(config.KEEP_VISITOR_S))) as app:
        gr.Markdown(
            "# longbert\nClassify reviews of any length: the text is cut into chunks, every chunk is "
            "scored, and the chunk probabilities are pooled."
        )
        with gr.Tabs() as tabs:
            with gr.Tab("Demo", id="demo"):
                page = demo_tab()
            with gr.Tab("Evaluation", id="evaluation"):
                pickers = dashboard_section(page, tabs)
                runs_section(page.model, pickers)
        opened_by_link(app, page, tabs)
        app.unload(visitor.forget)
    return app
