"""The Gradio app: handlers called directly, the HTTP API through gradio_client, and 20 concurrent requests."""

import concurrent.futures
import math
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import save_tiny_model, settled

pytest.importorskip("gradio")

from bench.load import free_port
from eval.results import Results
from eval.run import evaluate, parse_grid
from longbert import Chunking
from longbert.data import SAMPLE
from ui import budget, config, controls, dashboard, demo, explain, layout, models, runs, views


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    from longbert import LongTextClassifier

    varied = save_tiny_model(tmp_path_factory.mktemp("varied"), init=0.5)  # its settings disagree on some reviews
    classifier = LongTextClassifier.from_pretrained(varied, device="cpu")
    frame = pd.read_parquet(SAMPLE).head(40)
    out = tmp_path_factory.mktemp("results")
    evaluate(classifier, frame, model="tiny", chunkings=parse_grid("510/510/1,128/64/1"), out_dir=out, progress=False)
    return out


@pytest.fixture(autouse=True)
def environment(monkeypatch, model_dir, results_dir):
    monkeypatch.setenv("LONGBERT_MODEL", str(model_dir))
    monkeypatch.setenv("LONGBERT_RESULTS", str(results_dir))
    monkeypatch.setenv("LONGBERT_IMDB", "sample")


def test_classify_shows_verdict_chart_and_shaded_chunks(model_dir):
    review = demo.example_reviews()[0]
    verdict, chart, shaded = demo.classify(review, str(model_dir), 510, 255, 1, "mean")
    assert verdict.startswith("### ") and "Head truncation" in verdict
    assert "tokens" in verdict
    bars = chart.data[0]
    prediction = models.classifier_for(str(model_dir)).predict(review, Chunking(510, 255, 1))[0]
    assert len(bars.y) == len(prediction.chunks) > 5
    positive = [c.probabilities[1] for c in prediction.chunks]
    assert list(bars.customdata) == [views.probability_text(p) for p in positive]
    assert bars.base == 0.5 and np.allclose(np.asarray(bars.y) + 0.5, positive), "bars grow from 0.5"
    assert shaded.count("<span") >= len(prediction.chunks)
    assert "&lt;br" not in shaded and "<br" not in shaded.split("</div>", 1)[1], "line breaks, not markup"
    assert "): P(" in shaded, "a legend says what the shading means"
    assert "chunks 1, 2" in shaded, "overlapping chunks share the shaded stretch"
    assert "Shading (chunk 510/255/1, mean): P(" in shaded, "the legend names the setting it shows"
    compared = demo.classify(review, str(model_dir), 510, 255, 1, "mean", slot="A")[2]
    assert "Shading (A: chunk 510/255/1, mean)" in compared, "in compare mode, which setting the shading shows"


def test_a_chart_of_hundreds_of_chunks_numbers_its_axis_instead_of_naming_every_chunk(model_dir):
    review = demo.example_reviews()[0]
    chart = demo.classify(review, str(model_dir), 16, 16, 1, "mean", limit=10**6)[1]
    assert len(chart.data[0].y) > 150 and chart.layout.xaxis.type == "linear"
    few = demo.classify(review, str(model_dir), 510, 510, 1, "mean")[1]
    assert few.layout.xaxis.type == "category" and list(few.data[0].x) == ["1", "2", "3", "4", "5", "6"]


def test_classify_turns_bad_input_into_messages(model_dir):
    model = str(model_dir)
    assert "stride (600) must not exceed" in demo.classify("good film", model, 510, 600, 1, "mean")[0]
    assert "exceeds what the model allows" in demo.classify("good film", model, 600, 600, 1, "mean")[0]
    assert "unknown pooling" in demo.classify("good film", model, 510, 510, 1, "sum")[0]
    assert demo.classify("  \n ", model, 510, 510, 1, "mean")[0].startswith("Paste a review")
    assert demo.classify(42, model, 510, 510, 1, "mean")[0].startswith("Paste a review"), "the API can send anything"
    assert "limit here is" in demo.classify("x" * (config.MAX_CHARS + 1), model, 510, 510, 1, "mean")[0]
    assert "is not offered here" in demo.classify("good film", "someone/missing-model", 510, 510, 1, "mean")[0]
    assert "stride must be a whole number, got 'x'" in demo.classify("good film", model, 510, "x", 1, "mean")[0]
    assert "minimal_chunk_size must be a whole number" in demo.classify("good film", model, 510, 1, math.nan, "mean")[0]
    assert "no words to classify" in demo.classify("<br /><br />", model, 510, 510, 1, "mean")[0]
    assert "lone surrogate" in demo.classify("a \ud800 b", model, 510, 510, 1, "mean")[0]


def test_classify_costs_a_request_in_tokens_and_names_the_smallest_stride_that_fits(model_dir, monkeypatch):
    monkeypatch.setattr(config, "DEMO_TOKENS", 4_000)
    model, review = str(model_dir), views.readable(demo.example_reviews()[0])
    refused = demo.classify(review, model, 510, 16, 1, "mean")
    assert refused[1:] == (None, "") and "limit for a demo request is 4,000 tokens" in refused[0]
    tokens = int(re.search(r"would score ([\d,]+) tokens", refused[0]).group(1).replace(",", ""))
    assert tokens > 60_000, "about 149 chunks of 512 tokens, the head chunk beside them"
    rate = float(re.search(r"at the ([\d,]+) tokens/s", refused[0]).group(1).replace(",", ""))
    assert rate == pytest.approx(budget.RATE.value, rel=0.01), "the time comes from the rate this server measured"
    stride = int(re.search(r"a stride of (\d+) or more fits", refused[0]).group(1))
    assert "would score" in demo.classify(review, model, 510, stride - 1, 1, "mean")[0]
    verdict = demo.classify(review, model, 510, stride, 1, "mean")[0]
    assert verdict.startswith("### "), verdict
    monkeypatch.setattr(config, "DEMO_TOKENS", 3_000)  # 176 chunks of 16 tokens and 2 special ones, the head chunk
    assert "even without overlap" in demo.classify(review, model, 16, 16, 1, "mean")[0]


def page(request_demo, *values, last=None):
    """demo.demo's answer as (verdict, chunk_size, stride, minimal, state)."""
    verdict, _, _, size, stride, minimal, chosen = request_demo(*values, last=last)
    return verdict, size, stride, minimal, chosen


def test_the_sliders_settle_alike_and_stride_follows_chunk_size_back(model_dir):
    review = demo.example_reviews()[2]
    run = lambda *v, last=None: demo.demo(review, str(model_dir), *v, "mean", controls.FIXED, last)  # noqa: E731
    verdict, size, stride, minimal, start = page(run, 510, 255, 1)
    assert (size, stride, minimal) == (510, 255, 1) and verdict.startswith("### ")
    verdict, size, stride, minimal, small = page(run, 16, 255, 1, last=start)
    assert (size, stride, minimal) == (16, 8, 1) and "stride follows chunk_size at 50%: 8" in verdict
    verdict, size, stride, minimal, back = page(run, 510, 8, 1, last=small)
    assert (size, stride, minimal) == (510, 255, 1), "510 -> 16 -> 510 ends where it started"
    for value, used in ((9999, 510), (-5, 16)):
        verdict, size, *_ = page(run, value, 255, 1, last=back)
        assert size == used and f"chunk_size {value} is outside 16-510: {used} used" in verdict
    for name, values in (("stride", (510, -5, 1)), ("minimal_chunk_size", (510, 255, -5))):
        verdict, *used, _ = page(run, *values, last=back)
        assert 1 in used and f"{name} -5 is outside 1-510: 1 used" in verdict, "every box is treated alike"
    verdict, size, stride, minimal, kept = page(run, 510, None, 1, last=back)
    assert "stride needs a whole number from 1 to 510, got None" in verdict
    assert (size, stride, minimal, kept) == (510, 255, 1, back), "the boxes show what was last used"


def test_a_newer_demo_request_stops_the_one_still_scoring(model_dir, monkeypatch, request):
    import threading

    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")  # torch's forward, slowed below, whatever engine auto picks
    models.forget_models()
    request.addfinalizer(models.forget_models)  # later tests load the model as auto picks it
    classifier = models.classifier_for(str(model_dir))
    real, started = classifier.model.forward, threading.Event()

    def slow(*args, **kwargs):  # every batch takes a while
        started.set()
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier.model, "forward", slow)
    monkeypatch.setattr(classifier, "runtime", classifier.runtime.with_options(batch_tokens=512))
    models.forget_scores()
    page = type("Request", (), {"session_hash": "one page"})()
    ask = lambda text, size: demo.demo(text, str(model_dir), size, size // 2, 1, "mean", controls.FIXED, None, "A",  # noqa: E731
                                       page)  # fmt: skip
    answers = {}
    first = threading.Thread(target=lambda: answers.update(first=ask(views.readable(demo.example_reviews()[0]), 64)))
    first.start()
    assert started.wait(30)
    answers["second"] = ask("A short review, asked for next. " * 10, 510)
    first.join(60)
    assert answers["second"][0].startswith("### "), answers["second"][0]
    assert all(update == {"__type__": "update"} for update in answers["first"]), "the older request changes nothing"


def test_changing_only_the_pooling_re_pools_the_scores_already_computed(model_dir, monkeypatch):
    review = demo.example_reviews()[0]
    models.forget_models()
    calls = []
    classifier = models.classifier_for(str(model_dir))
    real = classifier.scorer_with

    def counting(*args, **kwargs):
        scorer = real(*args, **kwargs)
        return lambda chunks, **kw: calls.append(len(chunks)) or scorer(chunks, **kw)

    monkeypatch.setattr(classifier, "scorer_with", counting)
    mean = demo.classify(review, str(model_dir), 256, 128, 1, "mean")[0]
    scored = len(calls)
    maximum = demo.classify(review, str(model_dir), 256, 128, 1, "max")[0]
    assert len(calls) == scored, "no chunk is scored again"
    assert "max of" in maximum and "mean of" in mean
    assert re.search(r"\d ms \(torch ", mean) and "re-pooled from chunk scores already computed (torch " in maximum
    assert " 0 ms" not in maximum, "a re-pooled answer does not claim to have taken 0 ms"
    expected = classifier.predict(review, Chunking(256, 128, 1), "max")[0]
    assert f"{max(expected.probabilities):.1%}" in maximum


def test_the_demo_covers_truncations_and_opens_results_settings():
    assert controls.controls_for("chunk 256/192/64 max") == (256, 192, 64, "max", controls.FIXED)
    assert controls.controls_for("sentences 510/510/1 mean") == (510, 510, 1, "mean", controls.SENTENCES)
    head_tail = controls.controls_for("head+tail 128+382")
    assert head_tail[0] == 510 and head_tail[4] == controls.HEAD_TAIL
    for setting in ("head 510", "tail 510", "head+tail 128+382", "chunk 128/64/32 median"):
        size, stride, minimal, pooling, cut = controls.controls_for(setting)
        strategy = controls.demo_strategy(cut, size, stride, minimal)
        expected = setting.rsplit(" ", 1)[0] if setting.startswith("chunk") else setting
        assert strategy.name == expected and pooling == ("median" if setting.startswith("chunk") else "mean")


def test_examples_show_line_breaks_not_markup():
    review = demo.example_reviews()[0]
    assert "<br" in review
    readable = views.readable(review)
    assert "<br" not in readable and "\n" in readable
    assert views.readable("a<br /><br />b <i>c</i>") == "a\n\nb c"


def final(run) -> tuple:
    """The last answer of a run handler (a generator reporting progress on the way)."""
    *_, last = run
    return last


def test_run_evaluation_scores_a_sample_and_refuses_what_it_cannot(model_dir, monkeypatch):
    note, table, accuracy, buckets, files, how, *pickers = final(
        runs.run_evaluation(str(model_dir), 20, "510/510/1", ["mean", "max"])
    )
    assert note.startswith("Scored 20 reviews")
    assert [Path(f).name for f in files] == ["summary.csv", "predictions.parquet"]
    assert "python -m eval" in how and "--data sample --limit 20 --seed 0" in how
    assert pickers[0].startswith("yours: IMDB test reviews"), "the run joins the dashboard as one of this page's sets"
    assert set(table["source"]) == {"run: 20 reviews"}
    assert table["accuracy"].str.endswith("%").all(), "percentages, as in the dashboard's table"
    assert "chunk 510/510/1 max" in set(table["setting"])
    assert accuracy is not None and buckets is not None
    assert "Error" in final(runs.run_evaluation(str(model_dir), 20, "head", ["mean"]))[0]
    assert "at least one pooling" in final(runs.run_evaluation(str(model_dir), 20, "510/510/1", []))[0]
    assert "must be text" in final(runs.run_evaluation(str(model_dir), 20, 42, ["mean"]))[0]
    monkeypatch.setattr(config, "RUN_TOKENS", 1_000)
    refused = final(runs.run_evaluation(str(model_dir), 20, "510/16/1", ["mean"]))[0]
    assert "This evaluation run would score" in refused and "the limit for a evaluation run" not in refused
    assert "limit for an evaluation run is 1,000 tokens" in refused and runs.scoring_now() == 0


def test_a_stopped_run_shows_the_reviews_it_scored_whole(model_dir, monkeypatch):
    from longbert.errors import Stopped

    classifier = models.classifier_for(str(model_dir))
    real = classifier.scorer
    calls = []

    def stopping(chunks, **kwargs):
        calls.append(len(chunks))
        if len(calls) == 3:
            raise Stopped("stopped")  # what a Meter raises at its next batch once Stop is pressed
        return real(chunks, **kwargs)

    monkeypatch.setattr(classifier, "scorer_with", lambda *a, **k: stopping)
    monkeypatch.setattr(config, "RUN_BLOCK_REVIEWS", 8)
    note, table, *_ = final(runs.run_evaluation(str(model_dir), 40, "510/510/1,128/64/1", ["mean"]))
    assert "partial results on the 16 of 40 reviews" in note, note
    assert set(table["source"]) == {"run: 16 of 40 reviews (partial)"}


def test_ab_comparison_pairs_reviews_and_opens_a_disagreement_with_both_settings(results_dir):
    label = next(iter(dashboard.result_sets()))
    note, figure, table = dashboard.ab_compare(label, "head 510", label, "chunk 128/64/1 max")
    summary = dashboard.results_of(label)
    predictions = summary.predictions
    head, other = predictions["head 510"] >= 0.5, predictions["chunk 128/64/1 max"] >= 0.5
    assert len(table) == int((head != other).sum()) >= 2
    right_a, right_b = head == predictions["label"].astype(bool), other == predictions["label"].astype(bool)
    assert f"A alone right on {int((right_a & ~right_b).sum())}, B alone on {int((right_b & ~right_a).sum())}" in note
    assert "McNemar p" in note and len(figure.data[0].x) == 4
    assert "Cannot compare" in dashboard.ab_compare(label, "head 510", label, "no such setting")[0]
    for row in (len(table) - 1, 0):
        event = type("Event", (), {"index": [row, 0]})()
        opened = dashboard.open_pair(label, "head 510", label, "chunk 128/64/1 max", table, event)
        text = opened[0]
        review = predictions[predictions["review_id"] == table["review_id"].iloc[row]]
        assert text == views.readable(dashboard.review_text(int(review["review_id"].iloc[0]), summary))
        assert opened[1:6] == (510, 510, 1, "mean", controls.HEAD_ONLY) and opened[6] is True
        assert opened[7:12] == (128, 64, 1, "max", controls.FIXED) and opened[12].selected == "demo"
        assert opened[13:] == (None, None), "the sliders take the opened settings as they are"


def test_dashboard_figures_cover_the_settings_space(results_dir):
    from eval import compare, figures

    label = next(iter(dashboard.result_sets()))
    table = compare.settings_table(dashboard.results_of(label))
    assert {"tokens_per_review", "chunks_per_review", "stride_share", "minimal_share"} <= set(table.columns)
    lines = dashboard.length_lines(label, ["chunk 128/64/1 max"])
    named = [t for t in lines.data if t.name]
    assert [t.name for t in named] == ["chunk 128/64/1 max", "head 510"], "head is the reference, drawn on top"
    assert named[-1].line.dash == "dash" and named[-1].line.color == "#000000"
    assert sum(t.fill == "toself" for t in lines.data) == 2, "each line has its 95% band"
    assert len(named[0].x) >= 5, "length deciles"
    assert dashboard.length_lines(label, ["chunk 510/510/1 mean"] * 9).data, "repeats and extras are dropped"
    cost = dashboard.cost_chart(label, "accuracy", "tokens_per_review")
    assert any(t.name == "frontier" for t in cost.data)
    heat = figures.heatmap_figure(table, "accuracy", "mean", "1 token", ranked_by="accuracy")
    assert heat.data[0].z.shape == (2, 2), "stride shares 100% and 50% x chunk sizes 128 and 510"
    near = table[table["setting"].isin(compare.chunkings_of(table, "mean", "1 token")["setting"])]["near_best"]
    assert len(heat.layout.shapes) == int(near.sum()) >= 1, "the settings indistinguishable from the best are outlined"
    assert "Holm" in heat.layout.title.subtitle.text and "n = 40 reviews" in heat.layout.title.subtitle.text
    assert all("n=40" in cell for row in heat.data[0].customdata for cell in row if cell), "n on every hover"


@pytest.fixture(scope="module")
def server(model_dir, results_dir):
    with pytest.MonkeyPatch.context() as patch:  # undone when the module ends: no later test sees these
        patch.setenv("LONGBERT_MODEL", str(model_dir))
        patch.setenv("LONGBERT_RESULTS", str(results_dir))
        patch.setenv("LONGBERT_IMDB", "sample")
        blocks = layout.build_app().queue(default_concurrency_limit=2, max_size=64)
        port = free_port()
        blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **layout.LAUNCH)
        yield f"http://127.0.0.1:{port}/"
        blocks.close()


def test_client_predict_and_evaluate_endpoints(server, model_dir):
    from gradio_client import Client

    client = Client(server, verbose=False)
    review = demo.example_reviews()[0]
    verdict, _, shaded = client.predict(
        review, str(model_dir), 510, 510, 1, "mean", "fixed windows", api_name="/predict"
    )
    assert verdict.startswith("### ") and "chunks" in verdict
    assert "<span" in shaded
    bad, _, _ = client.predict(review, str(model_dir), 100, 200, 1, "mean", api_name="/predict")
    assert "stride (200) must not exceed" in bad
    note, table, *_ = client.predict(str(model_dir), 10, "510/510/1", ["mean"], api_name="/evaluate")
    assert note.startswith("Scored 10 reviews")
    assert "setting" in table["headers"]
    for value, message in (("abc", "chunk_size must be a whole number, got 'abc'"), (None, "got None"),
                           (12.5, "got 12.5"), (9999, "chunk_size (9999) exceeds what the model allows")):  # fmt: skip
        verdict = client.predict(review, str(model_dir), value, 510, 1, "mean", "fixed windows", api_name="/predict")[0]
        assert verdict == f"**Error:** {message}" or message in verdict, verdict
    refused = client.predict(review, "someone/any-model", 510, 510, 1, "mean", "fixed windows", api_name="/predict")
    assert "'someone/any-model' is not offered here" in refused[0], "the API loads only the offered models"
    assert "reviews must be a whole number" in client.predict(str(model_dir), "x", "510/510/1", ["mean"],
                                                              api_name="/evaluate")[0]  # fmt: skip
    note = client.predict(str(model_dir), 5000, "510/510/1", ["mean"], api_name="/evaluate")[0]
    assert "5,000 were asked for" in note and "hold only 300" in note


def test_every_handler_that_runs_the_model_is_wrapped_for_zerogpu(monkeypatch):
    import importlib
    import sys
    import types

    wrapped = []
    fake_spaces = types.SimpleNamespace(GPU=lambda function: wrapped.append(function.__name__) or function)
    monkeypatch.setitem(sys.modules, "spaces", fake_spaces)
    try:
        for module in (config, demo, runs, explain):
            importlib.reload(module)
        # explain_text runs through explain, which is wrapped (a GPU function inside another is not asked for)
        assert sorted(wrapped) == ["classify", "classify_text", "evaluate_file", "explain", "run_evaluation"]
    finally:
        monkeypatch.delitem(sys.modules, "spaces")
        for module in (config, demo, runs, explain):
            importlib.reload(module)


def test_examples_include_one_that_truncation_gets_wrong_and_chunking_right():
    from longbert import HEAD
    from longbert.bundled import BUNDLED_MODEL_DIR

    reviews = demo.example_reviews()
    assert len(reviews) == 3
    classifier = models.load_classifier(str(BUNDLED_MODEL_DIR))
    head = classifier.predict(reviews[1], HEAD)[0]
    chunked = classifier.predict(reviews[1])[0]
    assert len(chunked.chunks) >= 2 and head.label != chunked.label


def test_twenty_concurrent_long_reviews_are_all_answered_correctly(server, model_dir):
    from gradio_client import Client

    reviews = demo.example_reviews()
    expected = {r: demo.classify(r, str(model_dir), 510, 510, 1, "mean")[0].splitlines()[0] for r in reviews}

    def one(i):
        client = Client(server, verbose=False)
        review = reviews[i % len(reviews)]
        start = time.perf_counter()
        verdict = client.predict(review, str(model_dir), 510, 510, 1, "mean", "fixed windows", api_name="/predict")[0]
        return review, verdict, time.perf_counter() - start

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(one, range(20)))
    assert len(answers) == 20
    for review, verdict, _ in answers:
        assert verdict.splitlines()[0] == expected[review]
    latencies = sorted(a[2] for a in answers)
    print(f"20 concurrent: p50 {statistics.median(latencies):.2f} s, p95 {latencies[18]:.2f} s")


def bar_count(page) -> int:
    return page.locator(".js-plotly-plot").first.locator("g.point").count()


def drag(page, label: str, start: float, end: float, steps: int = 25) -> None:
    """Drag a slider's handle by mouse from a share of its track to another, as a person does."""
    track = page.get_by_label(f"range slider for {label}", exact=True).bounding_box()
    y = track["y"] + track["height"] / 2
    page.mouse.move(track["x"] + track["width"] * start, y)
    page.mouse.down()
    for step in range(1, steps + 1):
        page.mouse.move(track["x"] + track["width"] * (start + (end - start) * step / steps), y)
        page.wait_for_timeout(20)
    page.mouse.up()


def no_error_toast(page) -> bool:
    return page.locator(".toast-body.error, [data-testid='toast-body']").count() == 0


@pytest.fixture()
def browser_page(server, chromium):
    return chromium


def slider_values(page) -> tuple[int, int, int]:
    """Setting A's chunk_size, stride and minimal_chunk_size as their number boxes show them."""
    labels = ("chunk_size (tokens)", "stride (<= chunk_size)", "minimal_chunk_size")
    return tuple(int(page.get_by_label(f"number input for {label}").input_value()) for label in labels)


@pytest.mark.slow
def test_browser_sliders_examples_and_compare_mode(server, browser_page):
    page = browser_page.new_page(viewport={"width": 1400, "height": 1000})
    joins = []
    page.on("request", lambda r: joins.append(r.url) if r.method == "POST" and "queue/join" in r.url else None)
    page.goto(server)
    page.get_by_text(views.readable(demo.example_reviews()[0])[:40]).first.click()  # an example classifies
    page.get_by_text("Head truncation").wait_for(timeout=30_000)
    assert (
        page.get_by_label("Review", exact=True).input_value().startswith(views.readable(demo.example_reviews()[0])[:40])
    )
    settled(page)
    for label, start, end in (("chunk_size (tokens)", 0.99, 0.2), ("stride (<= chunk_size)", 0.99, 0.3),
                              ("minimal_chunk_size", 0.0, 0.99), ("chunk_size (tokens)", 0.2, 0.99)):  # fmt: skip
        before = len(joins)
        drag(page, label, start, end)
        settled(page)
        assert len(joins) - before == 1, f"one request per drag of {label}, not {len(joins) - before}"
        assert no_error_toast(page), f"an error toast while dragging {label}"
        assert page.locator("h3").filter(has_text=re.compile(r"of \d+ chunks?")).count() == 1
        assert "Error" not in page.locator("h3").first.inner_text()
        size, stride, minimal = slider_values(page)
        assert stride <= size and minimal <= size, (size, stride, minimal)
    start = slider_values(page)
    for begin, end in ((0.99, 0.0), (0.01, 1.0)):  # chunk_size 510 -> 16 -> 510: stride follows at its share
        drag(page, "chunk_size (tokens)", begin, end)
        settled(page)
    assert slider_values(page) == start, "dragging chunk_size down and back up costs no more than at the start"
    box = page.get_by_label("number input for stride (<= chunk_size)")
    box.fill("9999")
    box.press("Enter")
    page.get_by_text("stride 9999 is outside 1-510").wait_for(timeout=15_000)
    assert no_error_toast(page), "a typed out-of-range value gets the app's message, not a toast"
    assert slider_values(page)[1] <= slider_values(page)[0], "the box shows the stride used"
    box.fill("255")
    box.press("Enter")
    page.get_by_text("Head truncation").first.wait_for(timeout=15_000)
    page.get_by_label("Compare with a second setting (B)").check()
    page.get_by_text("chunk_size B (tokens)").wait_for(timeout=5_000)
    page.wait_for_function("document.querySelectorAll('h3').length >= 2", timeout=30_000)
    assert page.get_by_text("Head truncation").count() == 2, "A and B each have a verdict"
    assert page.locator(".js-plotly-plot").count() >= 2, "and a chart each"
    page.wait_for_timeout(1000)
    titles = [h.inner_text() for h in page.locator("h3").all()]
    assert titles[0].startswith("A: ") and titles[1].startswith("B: "), titles
    fits = (
        "[...document.querySelectorAll('.js-plotly-plot')]"
        ".map(p => [p.querySelector('.main-svg').getBoundingClientRect().width, p.getBoundingClientRect().width])"
    )
    assert all(drawn <= room + 2 for drawn, room in page.evaluate(fits)), "A's chart is redrawn at its new width"
    page.get_by_label("head+tail").last.check()
    page.wait_for_function("[...document.querySelectorAll('h3')].some(h => h.innerText.includes('of 1 chunk'))",
                           timeout=30_000)  # fmt: skip


@pytest.mark.slow
def test_browser_ab_comparison_opens_a_disagreement_in_the_demo(server, browser_page):
    page = browser_page.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server)
    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_text("A minus B, by length").first.wait_for(timeout=30_000)
    page.get_by_label("B: setting").click()
    page.get_by_role("option", name="chunk 128/64/1 max").click()
    page.get_by_text(re.compile(r"B chunk 128/64/1 max")).first.wait_for(timeout=30_000)
    label = next(iter(dashboard.result_sets()))
    table = dashboard.ab_compare(label, "head 510", label, "chunk 128/64/1 max")[2]
    assert len(table) >= 1, "the tiny model's head and 128/64/1 max disagree somewhere"
    review_id = int(table["review_id"].iloc[0])
    page.get_by_text(str(review_id), exact=True).locator("visible=true").first.click()
    page.get_by_text("chunk_size B (tokens)").wait_for(timeout=10_000)
    page.wait_for_function("document.querySelectorAll('h3').length >= 2", timeout=30_000)
    text = dashboard.review_text(review_id, dashboard.results_of(label))
    assert page.get_by_label("Review", exact=True).input_value() == views.readable(text).replace("\r\n", "\n")
    assert page.get_by_label("number input for chunk_size B (tokens)").input_value() == "128"
    assert page.get_by_label("number input for stride B (<= chunk_size)").input_value() == "64"


@pytest.fixture
def slow_runs(server, monkeypatch):
    """The served model made slow in evaluation runs only (0.3 s of real CPU work a batch, small batches), with
    every run batch counted; demo requests keep the model's own speed."""
    import threading

    import torch

    classifier = models.classifier_for(models.model_choices()[0])
    batches = []
    real = classifier.model.forward

    def forward(*args, **kwargs):
        if threading.current_thread().name.startswith("evaluation"):
            batches.append(time.monotonic())
            busy = torch.randn(256, 256)
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                busy = (busy @ busy).tanh()
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier.model, "forward", forward)
    monkeypatch.setattr(classifier, "runtime", classifier.runtime.with_options(batch_tokens=512))
    monkeypatch.setattr(config, "RUN_TOKENS", 10**8)
    monkeypatch.setattr(config, "RUN_BLOCK_REVIEWS", 4)  # a first block of whole reviews within about 15 batches
    return batches


def run_count(server) -> int:
    from gradio_client import Client

    return Client(server, verbose=False).predict(api_name="/runs")


def stops_within(server, batches, seconds: float) -> float:
    """Seconds until the server has no run scoring and its batches have stopped (asserted within `seconds`)."""
    start = time.monotonic()
    while run_count(server) and time.monotonic() - start < seconds:
        time.sleep(0.1)
    took = time.monotonic() - start
    assert run_count(server) == 0, f"the server is still scoring {seconds} s on"
    count = len(batches)
    time.sleep(1.5)
    assert len(batches) == count, "no batch is scored after the run stopped"
    return took


def start_run(server, browser_page, grid: str):
    """A page on the Evaluation tab whose Run has started scoring `grid` (its progress note shows)."""
    page = browser_page.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server)
    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_label("chunkings CHUNK/STRIDE/MINIMAL").fill(grid)
    page.get_by_role("button", name="Run on IMDB reviews").click()
    page.get_by_text(re.compile(r"Scoring: [\d,]+ of [\d,]+ tokens \(\d+%\), about")).wait_for(timeout=30_000)
    return page


@pytest.mark.slow
def test_browser_stop_stops_the_scoring_at_once_and_shows_the_reviews_scored(server, browser_page, slow_runs):
    page = start_run(server, browser_page, "510/510/1,510/255/1,256/128/1")
    deadline = time.monotonic() + 60
    while len(slow_runs) < 30 and time.monotonic() < deadline:  # past the first block of reviews
        time.sleep(0.2)
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopping…").first.wait_for(timeout=1_000)
    assert stops_within(server, slow_runs, 2.0) < 2.0
    page.get_by_text(re.compile(r"partial results on the \d+ of 100 reviews")).wait_for(timeout=10_000)
    assert page.get_by_text(re.compile(r"run: \d+ of 100 reviews \(partial\)")).count() >= 1
    assert page.get_by_text("Error", exact=True).count() == 0, "the page says it stopped, not Error"


@pytest.mark.slow
def test_a_run_whose_page_or_client_goes_away_stops(server, browser_page, slow_runs, model_dir):
    page = start_run(server, browser_page, "64/8/1")
    page.close()
    assert stops_within(server, slow_runs, 5.0) < 5.0, "the closed page's run stopped"
    script = (f"from gradio_client import Client; Client({server!r}, verbose=False).predict({str(model_dir)!r}, 100, "
              "'64/8/1', ['mean'], api_name='/evaluate')")  # fmt: skip
    client = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while not run_count(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(10)  # the client waits 10 s into the run, then goes away without a word
    assert run_count(server) == 1 and client.poll() is None
    client.kill()
    client.wait()
    assert stops_within(server, slow_runs, 5.0) < 5.0, "the run stopped once its client was gone"


@pytest.mark.slow
def test_a_demo_click_is_answered_while_a_run_scores(server, browser_page, slow_runs):
    page = start_run(server, browser_page, "64/8/1")
    page.get_by_role("tab", name="Demo").click()
    fresh = "A fresh review, never scored before: " + "good plot, fine acting. " * 60
    page.get_by_label("Review", exact=True).fill(fresh)
    page.get_by_role("button", name="Classify").click()
    page.get_by_text("A fresh review").first.wait_for(timeout=5_000)
    page.wait_for_function("[...document.querySelectorAll('h3')].some(h => /of \\d+ chunks?/.test(h.innerText))",
                           timeout=15_000)  # fmt: skip
    assert run_count(server) == 1, "the demo answered while the run was still scoring, not after it"
    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_role("button", name="Stop").click()
    stops_within(server, slow_runs, 5.0)


@pytest.mark.slow
def test_browser_evaluation_tab_at_400_px(server, browser_page, tmp_path):
    page = browser_page.new_page(viewport={"width": 400, "height": 900})
    page.goto(server)
    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_text("A minus B, by length").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 400, "nothing sticks out sideways"
    widths = page.evaluate(
        "[...document.querySelectorAll('.js-plotly-plot')].map(p => p.getBoundingClientRect().width)"
    )
    assert widths and min(widths) >= 300, f"plots are stacked full width, not squeezed: {widths}"
    for table in page.locator("table").all():
        assert table.bounding_box()["width"] > 0
    page.screenshot(path=str(tmp_path / "evaluation-400.png"), full_page=True)


def test_review_text_tells_apart_the_two_reviews_of_one_id():
    frame = pd.DataFrame({"review_id": [7, 7], "label": [0, 1], "text": ["the negative one", "the positive one"]})
    summary = Results({}, [], frame.drop(columns="text"), frame)
    assert dashboard.review_text(7, summary, label=1) == "the positive one"
    assert dashboard.review_text(7, summary, label=0) == "the negative one"


def test_the_demo_says_the_true_label_where_it_is_known_and_marks_each_verdict(model_dir, results_dir):
    from ui import truth

    truth.known_labels.cache_clear()
    frame = pd.read_parquet(SAMPLE)
    example = demo.example_reviews()[0]
    names = models.classifier_for(str(model_dir)).labels
    expected = names[int(frame.loc[frame["text"] == example, "label"].iloc[0])]
    verdict = demo.classify(views.readable(example), str(model_dir), 510, 510, 1, "max")[0]
    assert f"True label: **{expected}**" in verdict
    assert verdict.count("✓") + verdict.count("✗") == 2, "the chunked and the head verdict are each marked"
    assert f"max: the most {names[1]} chunk's P({names[1]})" in verdict, "what max pooling does to two classes"
    edited = demo.classify(views.readable(example) + " An edit.", str(model_dir), 510, 510, 1, "mean")[0]
    assert "True label" not in edited and "✓" not in edited, "an edited review's truth is unknown"
    opened = Results.load(results_dir).disagreements.iloc[0]
    assert (
        truth.true_label(views.readable(opened["text"]), models.classifier_for(str(model_dir)).task)
        == names[int(opened["label"])]
    ), "a review opened from a disagreement"
    titled = demo.demo(views.readable(example), str(model_dir), 510, 510, 1, "mean", controls.FIXED, None, "B",
                       None, True)[0]  # fmt: skip
    assert titled.startswith("### B: "), "compare mode labels each verdict A or B"


def test_windows_1252_characters_read_as_the_characters_they_are():
    assert views.readable("a\x97b\x96c\x85 d<br />e\x81") == "a—b–c… d\ne"


def test_disagreements_read_labels_by_name_and_never_round_across_one_half():
    from longbert.tasks import SingleLabel

    task = SingleLabel(("NEGATIVE", "POSITIVE"), 0.5)
    table = pd.DataFrame({"review_id": [7, 8], "label": [0, 1], "num_tokens": [900, 40], "A": [0.4996, 0.9],
                          "B": [0.5004, 0.1234], "A right": [True, True]})  # fmt: skip
    view = dashboard.disagreement_view(table, task)
    assert view["true label"].tolist() == ["NEGATIVE", "POSITIVE"]
    assert view["A: P(POSITIVE)"].tolist() == ["0.4996", "0.900"] and view["B: P(POSITIVE)"].tolist()[0] == "0.5004"
    assert dashboard.true_label(view.iloc[1], task) == 1, "opening the review finds it by its stored label"
