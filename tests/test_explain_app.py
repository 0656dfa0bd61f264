"""The demo's Explain (ui.explain): handlers called directly, the API's /explain, and the page in chromium."""

import re
import threading
import time

import pytest
from conftest import save_tiny_model, settled

pytest.importorskip("gradio")

from longbert import Chunking
from longbert.evidence import explain as library_explain
from ui import config, controls, demo, explain, models, views


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny BERT whose answers vary from sentence to sentence (as a trained model's do)."""
    return save_tiny_model(tmp_path_factory.mktemp("varied"), init=0.5)


@pytest.fixture(autouse=True)
def environment(monkeypatch, model_dir):
    monkeypatch.setenv("LONGBERT_MODEL", str(model_dir))
    monkeypatch.setenv("LONGBERT_IMDB", "sample")


def longest() -> str:
    return views.readable(demo.example_reviews()[0])


def test_explain_shades_every_sentence_and_lists_the_strongest_each_way(model_dir):
    review = longest()
    view, record = explain.explain(review, str(model_dir), 510, 510, 1, "mean")
    (expected,) = library_explain(models.classifier_for(str(model_dir)), review, Chunking(510, 510, 1), "mean")
    assert record["label"] == expected.prediction.label
    assert [r["span"] for r in record["evidence"]] == [list(s) for s in expected.spans]
    assert view.count("<li>") == 10 and "Pushing hardest toward POSITIVE" in view
    assert "Pushing hardest toward NEGATIVE" in view and " pts</b>" in view
    assert view.count('<span title="') == len(expected.spans), "a shaded span per sentence"
    assert "chunk 510/510/1, mean" in view and "Shading: effect on P(POSITIVE)" in view
    positive = expected.effects[:, 1]  # two classes: the view shows the effect on P(POSITIVE)
    strongest = int(positive.argmax())
    sentence = " ".join(review[slice(*expected.spans[strongest])].split())
    assert f"{explain.points(positive[strongest], False)}</b> {sentence[:40]}" in view.replace("&#x27;", "'")
    assert explain.points(0.1234, False) == "+12.3 pts" and explain.points(-0.000012, False) == "-0.0012 pts"


def test_max_pooling_says_which_sentences_cannot_move_the_answer(model_dir):
    view, record = explain.explain(longest(), str(model_dir), 128, 128, 1, "max")
    zero = sum(r["effect"] == 0 for r in record["evidence"])
    assert zero > 0
    assert f"{zero} of {len(record['evidence'])} sentences have effect 0" in view


def test_an_explanation_over_its_budget_is_refused_before_any_scoring(model_dir, monkeypatch):
    review = longest()
    classifier = models.classifier_for(str(model_dir))
    encoded = classifier.encode([review])
    predict_tokens = sum(len(c) + classifier.special.count for c in classifier.chunk(encoded).ids)
    models.forget_scores()
    explain.forget()
    tokens = explain.explanation_tokens(str(model_dir), review, Chunking(510, 510, 1))
    assert tokens <= config.EXPLAIN_TOKENS, "the longest example fits the default budget"
    assert tokens > 3 * predict_tokens  # about a chunk pass per sentence (the note says so)
    calls = []
    monkeypatch.setattr(models, "scored", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(config, "EXPLAIN_TOKENS", 5_000)
    view, record = explain.explain(review, str(model_dir), 510, 510, 1, "mean")
    assert record is None and not calls
    assert re.search(r"This explanation would score [\d,]+ tokens, about [\d.,]+ s", view)
    assert "the limit for an explanation is 5,000 tokens" in view


@pytest.mark.parametrize("args, message", [
    (("", 510, 510, 1), "Paste a review"), (("text", 100, 200, 1), "stride (200) must not exceed"),
    (("text", "abc", 510, 1), "chunk_size must be a whole number"),
])  # fmt: skip
def test_bad_input_is_one_line(model_dir, args, message):
    text, *numbers = args
    view, record = explain.explain(text, str(model_dir), *numbers, "mean")
    assert record is None and message in view and view.count("\n") == 0


def test_a_newer_explain_of_the_page_stops_the_one_still_scoring(model_dir, monkeypatch, request):
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    models.forget_models()
    request.addfinalizer(models.forget_models)
    classifier = models.classifier_for(str(model_dir))
    real, started = classifier.model.forward, threading.Event()
    batches = []

    def slow(*args, **kwargs):
        started.set()
        batches.append(time.monotonic())
        time.sleep(0.1)
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier.model, "forward", slow)
    monkeypatch.setattr(classifier, "runtime", classifier.runtime.with_options(batch_tokens=512))
    page = type("Request", (), {"session_hash": "one page"})()
    answers = {}
    first = threading.Thread(target=lambda: answers.update(first=explain.explain_a(
        longest(), str(model_dir), 64, 64, 1, "mean", controls.FIXED, page)))  # fmt: skip
    first.start()
    assert started.wait(30)
    answers["second"] = explain.explain_a("Short. It was great. " * 5, str(model_dir), 510, 510, 1, "mean",
                                          controls.FIXED, page)  # fmt: skip
    first.join(60)
    assert answers["second"][1]["evidence"]
    assert answers["first"] == ({"__type__": "update"},) * 2, "the older explanation changes nothing"
    assert len(batches) < 100, "and stopped scoring: the whole explanation is hundreds of batches"


def test_client_explain_endpoint(model_dir, monkeypatch):
    from gradio_client import Client

    from bench.load import free_port
    from ui import layout

    blocks = layout.build_app().queue(default_concurrency_limit=2)
    port = free_port()
    blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **layout.LAUNCH)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        view, record = client.predict(longest(), str(model_dir), 510, 510, 1, "mean", "fixed windows",
                                      api_name="/explain")  # fmt: skip
        assert "Why " in view and record["evidence"] and set(record["evidence"][0]) == {"span", "effect"}
        monkeypatch.setattr(config, "EXPLAIN_TOKENS", 1_000)  # the server runs in this process
        refused, nothing = client.predict(longest(), str(model_dir), 256, 256, 1, "max", "fixed windows",
                                          api_name="/explain")  # fmt: skip
        assert nothing is None and "This explanation would score" in refused
    finally:
        blocks.close()


@pytest.mark.slow
@pytest.mark.parametrize("width", [1400, 400])
def test_browser_explain_shades_sentences_and_lists_them(model_dir, chromium, width, tmp_path):
    from bench.load import free_port
    from ui import layout

    blocks = layout.build_app().queue(default_concurrency_limit=2)
    port = free_port()
    blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **layout.LAUNCH)
    try:
        page = chromium.new_page(viewport={"width": width, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_text(longest()[:40]).first.click()
        page.get_by_text("Head truncation").wait_for(timeout=30_000)
        settled(page)
        page.get_by_role("button", name="Explain: which sentences drove it").click()
        page.locator("#evidence .longbert-evidence").wait_for(timeout=60_000)
        settled(page)
        shaded = page.locator("#evidence span[title]")
        assert shaded.count() > 50
        assert page.locator("#evidence ol li").count() == 10
        assert page.locator(".toast-body.error, [data-testid='toast-body']").count() == 0
        assert "Error" not in page.locator("#evidence").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width, "nothing sticks out sideways"
        page.screenshot(path=str(tmp_path / f"explain-{width}.png"), full_page=True)
        page.get_by_label("Compare with a second setting (B)").check()
        page.wait_for_function("!document.querySelector('#evidence .longbert-evidence')", timeout=10_000)  # cleared
        page.get_by_text("chunk_size B (tokens)").wait_for(timeout=5_000)
        settled(page)
        page.get_by_role("button", name="Explain: which sentences drove it").click()
        page.locator("#evidence-b .longbert-evidence").wait_for(timeout=60_000)
        settled(page)
        assert "B: Why" in page.locator("#evidence-b").inner_text()
        assert page.locator("#evidence .longbert-evidence").count() == 1, "A explains its own verdict beside B"
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        blocks.close()
