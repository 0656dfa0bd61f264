"""A visitor's own labelled file on the Evaluation tab: read, checked against the model, scored, on the whole
dashboard, downloadable, reproducible by `python -m eval`, and the visitor's alone."""

import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TOKENIZER_DIR, save_tiny_model, settled, tiny_bert

pytest.importorskip("gradio")

import eval.__main__ as eval_cli
from bench.load import free_port
from eval.results import Results
from longbert import LongbertError
from longbert.data import SAMPLE
from ui import config, dashboard, layout, models, runs, uploads, visitor

GRID = "510/510/1,128/64/1"


def save_task_model(directory, kind: str, labels: list[str]):
    from transformers import AutoTokenizer

    model = tiny_bert(num_labels=len(labels), seed=3, init=0.5)
    model.config.problem_type = kind
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {name: i for i, name in enumerate(labels)}
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(TOKENIZER_DIR).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    return str(save_tiny_model(tmp_path_factory.mktemp("varied-upload"), init=0.5))


@pytest.fixture(scope="module")
def task_models(tmp_path_factory):
    multi = save_task_model(tmp_path_factory.mktemp("multi"), "multi_label_classification", ["negative", "positive",
                                                                                                "long"])  # fmt: skip
    regression = save_task_model(tmp_path_factory.mktemp("rating"), "regression", ["rating"])
    return str(multi), str(regression)


@pytest.fixture(autouse=True)
def environment(monkeypatch, varied, task_models):
    monkeypatch.setenv("LONGBERT_MODEL", varied)
    monkeypatch.setenv("LONGBERT_MODELS", ",".join(task_models))
    monkeypatch.setenv("LONGBERT_IMDB", "sample")
    monkeypatch.delenv("LONGBERT_RESULTS", raising=False)


def reviews_csv(directory, rows: int = 40):
    """The shipped sample as a visitor's CSV: columns review and sentiment, labels 'negative' and 'positive'."""
    frame = pd.read_parquet(SAMPLE).head(rows)
    sentiment = np.where(frame["label"] == 1, "positive", "negative")
    path = directory / "reviews.csv"
    pd.DataFrame({"id": frame["review_id"], "review": frame["text"], "sentiment": sentiment}).to_csv(path, index=False)
    return path


def final(run) -> tuple:
    *_, last = run
    return last


def test_columns_are_guessed_from_the_files_own(tmp_path):
    note, text, label = runs.inspect_file(str(reviews_csv(tmp_path)))
    assert (text.value, label.value) == ("review", "sentiment")
    assert text.choices == label.choices and len(text.choices) == 3
    assert "40 rows" in note
    assert uploads.guess(["Body", "Score"], uploads.TEXT_GUESSES) == "Body"
    assert uploads.guess(["x", "y"], uploads.LABEL_GUESSES, other="x") == "y", "else a column that is not the text"


def test_a_file_run_is_on_the_dashboard_and_equals_python_m_eval(tmp_path, varied, monkeypatch):
    path = reviews_csv(tmp_path)
    note, table, accuracy, buckets, files, how, label, *_ = final(
        runs.evaluate_file(str(path), "review", "sentiment", varied, 2000, GRID, ["mean", "max"])
    )
    assert set(table["source"]) == {"run: 40 reviews"} and accuracy is not None and buckets is not None
    assert note.startswith("Scored 40 reviews") and "2,000 were asked for; reviews.csv holds only 40" in note
    assert label.startswith("yours: reviews.csv") and label in dashboard.labels_for("direct")
    results = dashboard.results_of(label)
    assert results.reviews == 40 and results.task.labels == ("NEGATIVE", "POSITIVE")
    assert [Path(f).name for f in files] == ["summary.csv", "predictions.parquet"]
    # the command, run as it reads beside the file, gives the same accuracies
    line = how.split("```")[1].strip()
    assert "--data reviews.csv --text-column review --label-column sentiment --limit 40 --seed 0" in line
    args = shlex.split(line)[3:]
    args[args.index("--out") + 1] = str(tmp_path / "cli")
    monkeypatch.chdir(tmp_path)
    assert eval_cli.main([*args, "--quiet"]) == 0
    cli = Results.load(tmp_path / "cli")
    assert {r["setting"]: r["accuracy"] for r in cli.rows} == {r["setting"]: r["accuracy"] for r in results.rows}
    summary = pd.read_csv(files[0])
    assert list(summary["accuracy"]) == [r["accuracy"] for r in cli.rows], "the download is what python -m eval wrote"
    # the whole dashboard draws the visitor's set
    assert dashboard.heatmap(label, "accuracy", "mean", "1 token", "all reviews").data
    assert dashboard.length_lines(label, ["chunk 128/64/1 max"]).data
    assert dashboard.cost_chart(label, "accuracy", "tokens_per_review").data
    text, figure, disagreements = dashboard.ab_compare(label, "head 510", label, "chunk 128/64/1 max")
    assert text.startswith("**A head 510") and figure is not None
    assert dashboard.ab_calibration(label, "head 510", label, "chunk 128/64/1 max") is not None
    assert "Your run" in dashboard.about(results) and "python -m eval" in dashboard.about(results)
    if len(disagreements):
        from ui.truth import true_label

        row = disagreements.iloc[0]
        text = dashboard.review_text(row["review_id"], results, label=dashboard.true_label(row, results.task))
        assert true_label(text, results.task, "direct") == row["true label"], "an opened row shows its true label"


BAD = {
    "latin.csv": (b"review,sentiment\ncaf\xe9 great,positive\n", "is not UTF-8 text"),
    "missing.csv": (b"body,sentiment\ngood,positive\n", "has no column(s) review"),
    "labels.csv": (b"review,sentiment\ngood,positive\nmeh,neutral\n", "'neutral' not among the label names (NEGATIVE,"),
    "ids.csv": (b"review,sentiment\ngood,1\nbad,7\n", "label 7 is out of range for 2"),
    "empty.csv": (b"review,sentiment\n", "has no rows"),
    "quote.csv": (b'review,sentiment\n"good film,positive\nbad,negative\n', "EOF inside string"),
    "rows.jsonl": (b'{"review": "good", "sentiment": "positive"}\n{"review": \n', "cannot read rows.jsonl as jsonl"),
}


@pytest.mark.parametrize("name", [*BAD, "big.csv"])
def test_a_bad_upload_is_one_line_and_scores_nothing(name, tmp_path, varied, monkeypatch):
    if name == "big.csv":
        monkeypatch.setattr(config, "MAX_UPLOAD_MB", 0.001)
        data, message = reviews_csv(tmp_path).read_bytes(), "the limit here is 0.001 MB"
    else:
        data, message = BAD[name]
    path = tmp_path / name
    path.write_bytes(data)
    classifier = models.classifier_for(varied)
    calls = []
    monkeypatch.setattr(classifier, "scorer_with", lambda *a, **k: calls.append(1))
    note, *rest = final(runs.evaluate_file(str(path), "review", "sentiment", varied, 100, GRID, ["mean"]))
    assert note.startswith("**Error:** ") and message in note and "\n" not in note, note
    assert rest == [None] * 8 and not calls and runs.scoring_now() == 0


class Page:
    session_hash = "a page"


def test_the_api_refuses_a_file_not_uploaded_here(tmp_path, varied):
    path = reviews_csv(tmp_path)
    note = final(runs.evaluate_file({"path": str(path)}, "review", "sentiment", varied, 10, GRID, ["mean"], Page()))[0]
    assert "was not uploaded here" in note


def test_a_visitors_sets_go_when_the_page_closes_and_after_an_hour(tmp_path, varied, monkeypatch):
    path = reviews_csv(tmp_path, 20)
    *_, label, _, _ = final(runs.evaluate_file(str(path), "review", "sentiment", varied, 20, "510/510/1", ["mean"]))
    kept = visitor.sets_of("direct")[label]
    assert (kept.directory / "predictions.parquet").is_file()
    monkeypatch.setattr(config, "KEEP_VISITOR_S", 0.0)
    assert visitor.sweep() >= 1 and not kept.directory.exists() and label not in dashboard.labels_for("direct")
    monkeypatch.setattr(config, "KEEP_VISITOR_S", 3600.0)
    results = Results({"reviews": 1}, [], pd.DataFrame())
    visitor.keep("a page", "x", results, visitor.fresh_directory("a page"))
    directory = visitor.sets_of("a page")["yours: x"].directory
    visitor.forget(Page())
    assert not visitor.sets_of("a page") and not directory.exists()


@pytest.fixture(scope="module")
def server(varied, task_models):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LONGBERT_MODEL", varied)
        patch.setenv("LONGBERT_MODELS", ",".join(task_models))
        patch.setenv("LONGBERT_IMDB", "sample")
        patch.delenv("LONGBERT_RESULTS", raising=False)
        blocks = layout.build_app().queue(default_concurrency_limit=2, max_size=64)
        port = free_port()
        blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **layout.LAUNCH)
        yield f"http://127.0.0.1:{port}/"
        blocks.close()


def test_another_session_can_neither_list_nor_open_a_visitors_set(server, tmp_path, varied):
    from gradio_client import Client, handle_file

    mine, theirs = Client(server, verbose=False), Client(server, verbose=False)
    path = reviews_csv(tmp_path, 20)
    note, _, _, _, files, _, label, *_ = mine.predict(handle_file(str(path)), "review", "sentiment", varied, 20,
                                                      "510/510/1", ["mean"], api_name="/evaluate_file")  # fmt: skip
    assert note.startswith("Scored 20 reviews"), note
    assert sorted(Path(p).name for p in files) == ["predictions.parquet", "summary.csv"], "downloaded"
    label = label["value"]  # the page's results picker, set to the run's set
    own = mine.predict(label, "head 510", label, "chunk 510/510/1 mean", api_name="/compare")[0]
    assert own.startswith("**A head 510"), own
    try:
        other = theirs.predict(label, "head 510", label, "chunk 510/510/1 mean", api_name="/compare")[0]
    except Exception as error:  # Gradio's own check first: the label is not among the other page's choices
        other = str(error)
    assert "not in the list of choices" in other or "its page's alone" in other, other
    assert label in visitor.sets_of(mine.session_hash) and not visitor.sets_of(theirs.session_hash)
    with pytest.raises(LongbertError, match="its page's alone"):
        dashboard.results_of(label, type("Other", (), {"session_hash": theirs.session_hash})())


def task_file(directory, kind: str) -> str:
    frame = pd.read_parquet(SAMPLE).head(30)
    if kind == "multi":
        long = frame["text"].str.len() > 2000
        labels = [[s] + (["long"] if is_long else []) for s, is_long in
                  zip(np.where(frame["label"] == 1, "positive", "negative"), long)]  # fmt: skip
        path = directory / "multi.jsonl"
        pd.DataFrame({"text": frame["text"], "labels": labels}).to_json(path, orient="records", lines=True)
    else:
        path = directory / "ratings.parquet"
        frame[["text", "rating"]].to_parquet(path)
    return str(path)


@pytest.mark.parametrize("kind", ["multi", "regression"])
def test_multi_label_and_regression_files_through_the_api(kind, server, tmp_path, task_models):
    from gradio_client import Client, handle_file

    model = task_models[kind == "regression"]
    label_column = "labels" if kind == "multi" else "rating"
    client = Client(server, verbose=False)
    note, table, _, _, files, how, label, *_ = client.predict(
        handle_file(task_file(tmp_path, kind)), "text", label_column, model, 30, "510/510/1,128/64/1",
        ["mean", "max"], api_name="/evaluate_file")  # fmt: skip
    assert note.startswith("Scored 30 reviews"), note
    metric = "micro_f1" if kind == "multi" else "mae"
    assert metric in table["headers"], table["headers"]
    assert len(files) == 2 and f"--label-column {label_column}" in how
    label = label["value"]
    predictions = pd.read_parquet(next(f for f in files if f.endswith(".parquet")))
    assert len(predictions) == 30 and "chunk 128/64/1 max" in predictions
    compared = client.predict(label, "head 510", label, "chunk 128/64/1 max", api_name="/compare")[0]
    assert compared.startswith("**A head 510"), compared
    page = type("Page", (), {"session_hash": client.session_hash})()  # the dashboard's handlers, as that page calls
    assert dashboard.heatmap(label, metric, "mean", "1 token", "all reviews", page).data
    assert dashboard.length_lines(label, ["chunk 128/64/1 max"], page).data
    assert dashboard.cost_chart(label, metric, "tokens_per_review", page).data
    assert dashboard.ab_calibration(label, "head 510", label, "chunk 128/64/1 max", page) is not None
    assert dashboard.readable_table(dashboard.results_of(label, page))[metric].notna().all()


@pytest.mark.slow
def test_browser_upload_run_download_and_a_shared_link(server, chromium, tmp_path, varied, monkeypatch):
    browser = chromium
    path = reviews_csv(tmp_path)
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_role("tab", name="Your file").click()
    page.locator("input[type=file][accept*='.jsonl']").set_input_files(str(path))
    page.get_by_text("40 rows, columns id, review, sentiment").wait_for(timeout=30_000)
    assert page.get_by_label("text column").input_value() == "review"
    assert page.get_by_label("label column").input_value() == "sentiment"
    grid = page.get_by_label("chunkings CHUNK/STRIDE/MINIMAL")
    grid.fill("510/510/1,128/64/1")
    grid.press("Tab")
    page.get_by_role("button", name="Run on this file").click()
    page.get_by_text("Scored 40 reviews").wait_for(timeout=120_000)
    settled(page, 60)
    toasts = [t.inner_text() for t in page.locator(".toast-body").all()]
    assert not toasts, toasts
    assert page.get_by_text("Error", exact=True).count() == 0, "no error badge on any chart"
    assert page.get_by_label("Results", exact=True).input_value().startswith("yours: reviews.csv")
    assert page.locator(".js-plotly-plot").count() >= 7, "the dashboard's charts and the run's, drawn"
    # the page's accuracies are python -m eval's on the same file, seed and settings
    line = page.locator("code").filter(has_text="python -m eval").last.inner_text().strip()
    args = shlex.split(line)[3:]
    args[args.index("--out") + 1] = str(tmp_path / "cli")
    monkeypatch.chdir(tmp_path)
    assert eval_cli.main([*args, "--quiet"]) == 0
    expected = {r["setting"]: f"{r['accuracy']:.2%}" for r in Results.load(tmp_path / "cli").rows}
    table = page.get_by_role("grid", name="This run (it is also on the dashboard above)").inner_text()
    flat = " ".join(table.split())
    for setting, accuracy in expected.items():
        assert f"run: 40 reviews {setting} {accuracy}" in flat, (setting, accuracy, flat[:400])
    # the files download
    names = []
    for link in page.locator("a[download='summary.csv'], a[download='predictions.parquet']").all():
        with page.expect_download() as download:
            link.click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        names.append(saved.name)
    assert sorted(names) == ["predictions.parquet", "summary.csv"]
    cli = [r["accuracy"] for r in Results.load(tmp_path / "cli").rows]
    assert pd.read_csv(tmp_path / "summary.csv")["accuracy"].tolist() == cli
    # a shared link reopens the demo, in a fresh page, with the same model and settings
    page.get_by_role("tab", name="Demo").click()
    example = demo_examples()[1]
    page.get_by_text(example[:40]).first.click()
    page.get_by_text("Head truncation").first.wait_for(timeout=30_000)
    box = page.get_by_label("number input for chunk_size (tokens)")
    box.fill("256")
    box.press("Enter")
    settled(page, 60)
    page.get_by_label("pooling", exact=True).first.click()
    page.get_by_role("option", name="max", exact=True).click()
    settled(page, 60)
    page.get_by_role("button", name="Link to these settings").click()
    values = "[...document.querySelectorAll('textarea, input')].map(e => e.value)"
    page.wait_for_function(f"{values}.some(v => v.includes('chunk_size='))", timeout=30_000)
    link = next(v for v in page.evaluate(values) if "chunk_size=" in v)
    assert "example=1" in link and "pooling=max" in link and "chunk_size=256" in link, link
    fresh = browser.new_page(viewport={"width": 1400, "height": 1000})
    fresh.goto(link)
    fresh.get_by_text("Head truncation").first.wait_for(timeout=60_000)
    settled(fresh, 60)
    assert fresh.get_by_label("number input for chunk_size (tokens)").input_value() == "256"
    assert fresh.get_by_label("pooling", exact=True).first.input_value() == "max"
    assert fresh.get_by_label("Review", exact=True).input_value().startswith(example[:40])
    assert fresh.locator(".toast-body").count() == 0 and not errors, errors
    page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)


def demo_examples() -> list[str]:
    from ui import demo, views

    return [views.readable(e) for e in demo.example_reviews()]


def test_a_link_names_a_known_review_by_id_and_pasted_text_not_at_all():
    from ui import links, truth, views

    truth.known_labels.cache_clear()
    frame = pd.read_parquet(SAMPLE)
    examples = set(demo_examples())
    row = next(r for _, r in frame.iterrows() if views.readable(r["text"]) not in examples)
    reference = links.review_reference(row["text"])
    assert reference == {"review": str(row["review_id"]), "label": str(row["label"])}
    assert links.review_from(reference) == views.readable(row["text"]), "the link reopens that very review"
    assert links.review_reference(demo_examples()[2]) == {"example": "2"}
    assert links.review_reference("A review someone pasted, known nowhere.") == {}
    truth.known_labels.cache_clear()


def test_gradios_upload_route_refuses_a_file_over_the_limit(server):
    import urllib.error
    import urllib.request

    def upload(size: int) -> int:
        boundary = "longbert-boundary"
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.csv"\r\n\r\n'
        body = head.encode() + b"x" * size + f"\r\n--{boundary}--\r\n".encode()
        kind = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        request = urllib.request.Request(f"{server}gradio_api/upload", data=body, method="POST", headers=kind)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    limit = int(config.MAX_UPLOAD_MB * 1024 * 1024)
    assert upload(1000) == 200
    assert upload(limit + 1024 * 1024) == 413, "over LONGBERT_MAX_UPLOAD_MB: refused by Gradio's route itself"
