"""The Gradio app: handlers called directly, the HTTP API through gradio_client, and 20 concurrent requests."""

import concurrent.futures
import math
import re
import statistics
import time

import numpy as np
import pandas as pd
import pytest
from conftest import save_tiny_model

pytest.importorskip("gradio")

from bench.browser import CHROMIUM, CHROMIUM_ARGS
from bench.load import free_port
from eval.results import Results
from eval.run import evaluate, parse_grid
from longbert import Chunking
from longbert.data import SAMPLE
from ui import config, controls, dashboard, demo, layout, models, runs, views


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
    assert np.allclose(bars.customdata, [c.probabilities[1] for c in prediction.chunks])
    assert bars.base == 0.5 and np.allclose(np.asarray(bars.y) + 0.5, bars.customdata), "bars grow from 0.5"
    assert shaded.count("<span") >= len(prediction.chunks)
    assert "&lt;br" not in shaded and "<br" not in shaded.split("</div>", 1)[1], "line breaks, not markup"
    assert "Shading: P(" in shaded, "a legend says what the shading means"
    assert "chunks 1, 2" in shaded, "overlapping chunks share the shaded stretch"


def test_classify_turns_bad_input_into_messages(model_dir):
    model = str(model_dir)
    assert "stride (600) must not exceed" in demo.classify("good film", model, 510, 600, 1, "mean")[0]
    assert "exceeds what the model allows" in demo.classify("good film", model, 600, 600, 1, "mean")[0]
    assert "unknown pooling" in demo.classify("good film", model, 510, 510, 1, "sum")[0]
    assert demo.classify("  \n ", model, 510, 510, 1, "mean")[0].startswith("Paste a review")
    assert "limit here is" in demo.classify("x" * (config.MAX_CHARS + 1), model, 510, 510, 1, "mean")[0]
    assert "is not offered here" in demo.classify("good film", "someone/missing-model", 510, 510, 1, "mean")[0]
    assert "stride must be a whole number, got 'x'" in demo.classify("good film", model, 510, "x", 1, "mean")[0]
    assert "minimal_chunk_size must be a whole number" in demo.classify("good film", model, 510, 1, math.nan, "mean")[0]
    assert "no words to classify" in demo.classify("<br /><br />", model, 510, 510, 1, "mean")[0]
    assert "lone surrogate" in demo.classify("a \ud800 b", model, 510, 510, 1, "mean")[0]


def test_classify_refuses_too_many_chunks_and_names_the_smallest_stride_that_fits(model_dir, monkeypatch):
    monkeypatch.setattr(config, "MAX_CHUNKS", 8)
    model, review = str(model_dir), demo.example_reviews()[0]
    refused = demo.classify(review, model, 510, 16, 1, "mean")
    assert refused[1:] == (None, "") and "LONGBERT_MAX_CHUNKS" in refused[0]
    stride = int(re.search(r"a stride of (\d+) or more fits", refused[0]).group(1))
    assert "limit here is 8" in demo.classify(review, model, 510, stride - 1, 1, "mean")[0]
    verdict = demo.classify(review, model, 510, stride, 1, "mean")[0]
    assert int(re.search(r"of (\d+) chunks", verdict).group(1)) <= 8
    assert "raise chunk_size" in demo.classify(review, model, 32, 32, 1, "mean")[0]


def test_demo_clamps_stride_and_minimal_in_the_same_request(model_dir):
    review = demo.example_reviews()[2]
    verdict, _, _, stride, minimal = demo.demo(review, str(model_dir), 100, 510, 300, "mean")
    assert stride["value"] == 100 and minimal["value"] == 100, "the sliders are set to what was used"
    assert "stride lowered to chunk_size (100)" in verdict and "of " in verdict
    verdict, _, _, stride, minimal = demo.demo(review, str(model_dir), 400, 200, 1, "mean")
    assert stride == {"__type__": "update"} and minimal == {"__type__": "update"}, "nothing to move"
    assert "lowered" not in verdict
    assert "stride (9999) must not exceed" in demo.demo(review, str(model_dir), 400, 9999, 1, "mean")[0]


def test_changing_only_the_pooling_re_pools_the_scores_already_computed(model_dir, monkeypatch):
    review = demo.example_reviews()[0]
    models.scored_chunks.cache_clear()
    calls = []
    classifier = models.classifier_for(str(model_dir))
    real = classifier.scorer
    monkeypatch.setattr(classifier, "scorer", lambda chunks, **kw: calls.append(len(chunks)) or real(chunks, **kw))
    mean = demo.classify(review, str(model_dir), 256, 128, 1, "mean")[0]
    scored = len(calls)
    maximum = demo.classify(review, str(model_dir), 256, 128, 1, "max")[0]
    assert len(calls) == scored, "no chunk is scored again"
    assert "max of" in maximum and "mean of" in mean
    expected = classifier.predict(review, Chunking(256, 128, 1), "max")[0]
    assert f"{max(expected.probabilities):.1%}" in maximum


def test_the_demo_covers_truncations_and_opens_results_settings():
    assert controls.controls_for("chunk 256/192/64 max") == (256, 192, 64, "max", controls.FIXED)
    assert controls.controls_for("sentences 510/510/1 mean") == (510, 510, 1, "mean", controls.SENTENCES)
    head_tail = controls.controls_for("head+tail 128+382")
    assert head_tail[0] == 510 and head_tail[4] == controls.HEAD_TAIL
    for setting in ("head 510", "tail 510", "head+tail 128+382", "chunk 128/64/32 median"):
        size, stride, minimal, pooling, cut = controls.controls_for(setting)
        strategy = controls.demo_strategy(cut, size, stride, minimal)[0]
        expected = setting.rsplit(" ", 1)[0] if setting.startswith("chunk") else setting
        assert strategy.name == expected and pooling == ("median" if setting.startswith("chunk") else "mean")


def test_examples_show_line_breaks_not_markup():
    review = demo.example_reviews()[0]
    assert "<br" in review
    readable = views.readable(review)
    assert "<br" not in readable and "\n" in readable
    assert views.readable("a<br /><br />b <i>c</i>") == "a\n\nb c"


def test_run_evaluation_scores_a_sample_and_refuses_what_it_cannot(model_dir, monkeypatch):
    note, table, accuracy, buckets = runs.run_evaluation(str(model_dir), 20, "510/510/1", ["mean", "max"])
    assert note.startswith("Scored 20 reviews")
    assert set(table["source"]) == {"run: 20 reviews"}
    assert table["accuracy"].str.endswith("%").all(), "percentages, as in the dashboard's table"
    assert "chunk 510/510/1 max" in set(table["setting"])
    assert accuracy is not None and buckets is not None
    assert "Error" in runs.run_evaluation(str(model_dir), 20, "head", ["mean"])[0]
    assert "at least one pooling" in runs.run_evaluation(str(model_dir), 20, "510/510/1", [])[0]
    monkeypatch.setattr(config, "MAX_RUN_CHUNKS", 100)
    assert "limit here is 100" in runs.run_evaluation(str(model_dir), 20, "510/16/1", ["mean"])[0]


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


def test_dashboard_figures_cover_the_settings_space(results_dir):
    from eval import compare, figures

    label = next(iter(dashboard.result_sets()))
    table = compare.settings_table(dashboard.results_of(label))
    assert {"tokens_per_review", "chunks_per_review", "stride_share", "minimal_share"} <= set(table.columns)
    lines = dashboard.length_lines(label, ["chunk 128/64/1 max"])
    assert [t.name for t in lines.data] == ["head 510", "chunk 128/64/1 max"], "head is always the reference"
    assert len(lines.data[0].x) >= 5, "length deciles"
    assert dashboard.length_lines(label, ["chunk 510/510/1 mean"] * 9).data, "repeats and extras are dropped"
    cost = dashboard.cost_chart(label, "accuracy", "tokens_per_review")
    assert any(t.name == "frontier" for t in cost.data)
    heat = figures.heatmap_figure(table, "accuracy", "mean", "1 token")
    assert heat.data[0].z.shape == (2, 2), "stride shares 100% and 50% x chunk sizes 128 and 510"
    assert "★" in "".join(t for row in heat.data[0].text for t in row), "the best cell is marked"


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
        for module in (config, demo, runs):
            importlib.reload(module)
        assert sorted(wrapped) == ["classify", "run_evaluation"]
    finally:
        monkeypatch.delitem(sys.modules, "spaces")
        for module in (config, demo, runs):
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


def settled(page, timeout: float = 30) -> None:
    """Wait until no request is pending on the page's queue and its verdicts are drawn."""
    page.wait_for_timeout(600)
    page.wait_for_function("!document.querySelector('.progress-text, .eta-bar')", timeout=timeout * 1000)
    page.wait_for_timeout(300)


def no_error_toast(page) -> bool:
    return page.locator(".toast-body.error, [data-testid='toast-body']").count() == 0


@pytest.fixture()
def browser_page(server):
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
        size = int(page.get_by_label("number input for chunk_size (tokens)").input_value())
        stride = int(page.get_by_label("number input for stride (<= chunk_size)").input_value())
        minimal = int(page.get_by_label("number input for minimal_chunk_size").input_value())
        assert stride <= size and minimal <= size, (size, stride, minimal)
    box = page.get_by_label("number input for stride (<= chunk_size)")
    box.fill("9999")
    box.press("Enter")
    page.get_by_text("stride (9999) must not exceed").wait_for(timeout=15_000)
    assert no_error_toast(page), "a typed out-of-range value gets the app's message, not a toast"
    box.fill("255")
    box.press("Enter")
    page.get_by_text("Head truncation").first.wait_for(timeout=15_000)
    page.get_by_label("Compare with a second setting (B)").check()
    page.get_by_text("chunk_size B (tokens)").wait_for(timeout=5_000)
    page.wait_for_function("document.querySelectorAll('h3').length >= 2", timeout=30_000)
    assert page.get_by_text("Head truncation").count() == 2, "A and B each have a verdict"
    assert page.locator(".js-plotly-plot").count() >= 2, "and a chart each"
    page.get_by_label("head+tail").last.check()
    page.wait_for_function("[...document.querySelectorAll('h3')].some(h => h.innerText.includes('of 1 chunk'))",
                           timeout=30_000)  # fmt: skip


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


def test_browser_stop_stops_the_servers_scoring(server, browser_page, monkeypatch):
    from gradio_client import Client

    calls = []
    classifier = models.classifier_for(models.model_choices()[0])
    real = classifier.scorer

    def slow(chunks, *, progress=False):  # a slow model: each slice of chunks takes a while
        calls.append(len(chunks))
        time.sleep(0.3)
        return real(chunks, progress=progress)

    monkeypatch.setattr(classifier, "scorer", slow)
    monkeypatch.setattr(config, "MAX_RUN_CHUNKS", 10**6)
    page = browser_page.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server)
    page.get_by_role("tab", name="Evaluation").click()
    grid = page.get_by_label("chunkings CHUNK/STRIDE/MINIMAL")
    grid.fill("64/8/1")
    page.get_by_role("button", name="Run").click()
    deadline = time.monotonic() + 30
    while not calls and time.monotonic() < deadline:
        time.sleep(0.2)
    assert calls, "the run started scoring"
    page.get_by_role("button", name="Stop").click()
    stopped = time.monotonic()
    client = Client(server, verbose=False)
    while client.predict(api_name="/runs") and time.monotonic() - stopped < 5:
        time.sleep(0.2)
    assert client.predict(api_name="/runs") == 0, "the server is still scoring 5 s after Stop"
    assert time.monotonic() - stopped < 5
    count = len(calls)
    time.sleep(2)
    assert len(calls) == count, "no chunk is scored after the run stopped"
    page.get_by_text("Stopped: nothing more is scored.").wait_for(timeout=5_000)
    assert page.get_by_text("Error", exact=True).count() == 0, "the page says it stopped, not Error"


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
