"""The Gradio app: handlers called directly, the HTTP API through gradio_client, and 20 concurrent requests."""

import concurrent.futures
import math
import re
import socket
import statistics
import time

import numpy as np
import pandas as pd
import pytest
from conftest import save_tiny_model

pytest.importorskip("gradio")

import app
from eval.run import evaluate, parse_grid


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    from longbert import LongTextClassifier

    varied = save_tiny_model(tmp_path_factory.mktemp("varied"), init=0.5)  # its settings disagree on some reviews
    classifier = LongTextClassifier.from_pretrained(varied, device="cpu")
    frame = pd.read_parquet(app.SAMPLE).head(40)
    out = tmp_path_factory.mktemp("results")
    evaluate(classifier, frame, model="tiny", chunkings=parse_grid("510/510/1,128/64/1"), out_dir=out, progress=False)
    return out


@pytest.fixture(autouse=True)
def environment(monkeypatch, model_dir, results_dir):
    monkeypatch.setenv("LONGBERT_MODEL", str(model_dir))
    monkeypatch.setenv("LONGBERT_RESULTS", str(results_dir))
    monkeypatch.setenv("LONGBERT_IMDB", "sample")


def test_classify_shows_verdict_chart_and_shaded_chunks(model_dir):
    review = app.example_reviews()[0]
    verdict, chart, shaded = app.classify(review, str(model_dir), 510, 255, 1, "mean")
    assert verdict.startswith("### ") and "Head truncation" in verdict
    assert "tokens" in verdict
    bars = chart.data[0]
    prediction = app.classifier_for(str(model_dir)).predict(review, app.Chunking(510, 255, 1))[0]
    assert len(bars.y) == len(prediction.chunks) > 5
    assert np.allclose(bars.y, [c.probabilities[1] for c in prediction.chunks])
    assert shaded.count("<span") >= len(prediction.chunks)
    assert "chunks 1, 2" in shaded, "overlapping chunks share the shaded stretch"


def test_classify_turns_bad_input_into_messages(model_dir):
    model = str(model_dir)
    assert "stride (600) must not exceed" in app.classify("good film", model, 510, 600, 1, "mean")[0]
    assert "exceeds what the model allows" in app.classify("good film", model, 600, 600, 1, "mean")[0]
    assert "unknown pooling" in app.classify("good film", model, 510, 510, 1, "sum")[0]
    assert app.classify("  \n ", model, 510, 510, 1, "mean")[0].startswith("Paste a review")
    assert "limit here is" in app.classify("x" * (app.MAX_CHARS + 1), model, 510, 510, 1, "mean")[0]
    assert "is not offered here" in app.classify("good film", "someone/missing-model", 510, 510, 1, "mean")[0]
    assert "stride must be a whole number, got 'x'" in app.classify("good film", model, 510, "x", 1, "mean")[0]
    assert "minimal_chunk_size must be a whole number" in app.classify("good film", model, 510, 1, math.nan, "mean")[0]
    assert "no words to classify" in app.classify("<br /><br />", model, 510, 510, 1, "mean")[0]
    assert "lone surrogate" in app.classify("a \ud800 b", model, 510, 510, 1, "mean")[0]


def test_classify_refuses_too_many_chunks_and_names_the_smallest_stride_that_fits(model_dir, monkeypatch):
    monkeypatch.setattr(app, "MAX_CHUNKS", 8)
    model, review = str(model_dir), app.example_reviews()[0]
    refused = app.classify(review, model, 510, 16, 1, "mean")
    assert refused[1:] == (None, "") and "LONGBERT_MAX_CHUNKS" in refused[0]
    stride = int(re.search(r"a stride of (\d+) or more fits", refused[0]).group(1))
    assert "limit here is 8" in app.classify(review, model, 510, stride - 1, 1, "mean")[0]
    verdict = app.classify(review, model, 510, stride, 1, "mean")[0]
    assert int(re.search(r"of (\d+) chunks", verdict).group(1)) <= 8
    assert "raise chunk_size" in app.classify(review, model, 32, 32, 1, "mean")[0]


def test_sliders_keep_stride_and_minimal_within_chunk_size():
    stride, minimal = app.keep_stride_in_range(100, 510, 300)
    assert stride["maximum"] == 100 and stride["value"] == 100
    assert minimal["maximum"] == 100 and minimal["value"] == 100
    stride, _ = app.keep_stride_in_range(400, 200, 1)
    assert stride["value"] == 200


def test_run_evaluation_sits_beside_the_committed_results(model_dir, monkeypatch):
    note, table, accuracy, buckets = app.run_evaluation(str(model_dir), 20, "510/510/1", ["mean", "max"])
    assert note.startswith("Scored 20 reviews")
    assert set(table["source"]) == {"run: 20 reviews", "committed: 40 reviews"}
    assert "chunk 510/510/1 max" in set(table["setting"])
    assert accuracy is not None and buckets is not None
    assert "Error" in app.run_evaluation(str(model_dir), 20, "head", ["mean"])[0]
    assert "at least one pooling" in app.run_evaluation(str(model_dir), 20, "510/510/1", [])[0]
    monkeypatch.setattr(app, "MAX_RUN_CHUNKS", 100)
    assert "limit here is 100" in app.run_evaluation(str(model_dir), 20, "510/16/1", ["mean"])[0]


def test_disagreements_open_in_the_demo(results_dir):
    committed = app.committed_results()
    disagreements = committed["disagreements"]
    assert len(disagreements) >= 2, "the tiny model's settings disagree on some of the 40 reviews"
    table = app.disagreement_table(committed)
    assert list(table["review"]) == list(disagreements["review"])
    assert {"label", "num_tokens", "head 510"} <= set(table.columns) and "text" not in table.columns
    for row in (len(table) - 1, 0):
        event = type("Event", (), {"index": [row, 0]})()
        text, tabs = app.open_in_demo(table, event)
        assert text == disagreements.iloc[row]["text"] and text.strip()
        assert tabs.selected == "demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_dir, results_dir):
    with pytest.MonkeyPatch.context() as patch:  # undone when the module ends: no later test sees these
        patch.setenv("LONGBERT_MODEL", str(model_dir))
        patch.setenv("LONGBERT_RESULTS", str(results_dir))
        patch.setenv("LONGBERT_IMDB", "sample")
        blocks = app.build_app().queue(default_concurrency_limit=2, max_size=64)
        port = free_port()
        blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        yield f"http://127.0.0.1:{port}/"
        blocks.close()


def test_client_predict_and_evaluate_endpoints(server, model_dir):
    from gradio_client import Client

    client = Client(server, verbose=False)
    review = app.example_reviews()[0]
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
        importlib.reload(app)
        assert sorted(wrapped) == ["classify", "run_evaluation"]
    finally:
        monkeypatch.delitem(sys.modules, "spaces")
        importlib.reload(app)


def test_examples_include_one_that_truncation_gets_wrong_and_chunking_right():
    from longbert import HEAD
    from longbert.bundled import BUNDLED_MODEL_DIR

    reviews = app.example_reviews()
    assert len(reviews) == 3
    classifier = app.load_classifier(str(BUNDLED_MODEL_DIR))
    head = classifier.predict(reviews[1], HEAD)[0]
    chunked = classifier.predict(reviews[1])[0]
    assert len(chunked.chunks) >= 2 and head.label != chunked.label


def test_twenty_concurrent_long_reviews_are_all_answered_correctly(server, model_dir):
    from gradio_client import Client

    reviews = app.example_reviews()
    expected = {r: app.classify(r, str(model_dir), 510, 510, 1, "mean")[0].splitlines()[0] for r in reviews}

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


CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]  # fmt: skip


def bar_count(page) -> int:
    return page.locator(".js-plotly-plot").first.locator("g.point").count()


def test_browser_demo_and_evaluation_tabs(server, monkeypatch, tmp_path):
    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    real_evaluate = app.evaluate

    def slow_evaluate(*args, **kwargs):  # long enough to be stopped from the page
        time.sleep(15)
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(app, "evaluate", slow_evaluate)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.get_by_label("Review").fill(app.example_reviews()[0])
        page.get_by_role("button", name="Classify").click()
        page.get_by_text("Head truncation").wait_for(timeout=30_000)
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot g.point').length > 0", timeout=30_000)
        before = bar_count(page)
        chunk_box = page.get_by_label("number input for chunk_size (tokens)")
        chunk_box.fill("128")
        chunk_box.press("Enter")
        page.wait_for_function(
            f"document.querySelector('.js-plotly-plot').querySelectorAll('g.point').length > {before}", timeout=30_000
        )
        assert bar_count(page) > before
        page.get_by_role("tab", name="Evaluation").click()
        page.get_by_text("head 510").first.wait_for(timeout=30_000)
        page.get_by_role("button", name="Run").click()
        processing = page.get_by_text(re.compile(r"processing"))
        processing.first.wait_for(timeout=10_000)
        page.get_by_role("button", name="Stop").click()
        page.wait_for_function("!document.body.innerText.includes('processing')", timeout=4_000)  # before it could end
        page.wait_for_timeout(8000)  # past when the run would have finished
        assert page.get_by_text(re.compile(r"^Scored \d+ reviews")).count() == 0, "the stopped run shows no result"
        browser.close()
