"""The evaluation harness: metrics and significance on known answers, chunk reuse, resuming, a tiny end-to-end run."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eval.__main__ import main as eval_main
from eval.figures import main as figures_main
from eval.metrics import (
    against_best,
    binary_metrics,
    holm,
    length_bucket,
    paired_correct,
    reliability_bins,
    task_metrics,
    wilson_interval,
)
from eval.results import load_results
from eval.run import evaluate, fingerprint, parse_grid, plan
from longbert import POOLINGS, Chunking, LongbertError, LongTextClassifier
from longbert.chunking import window_size


def test_length_buckets():
    assert length_bucket(np.array([0, 510, 511, 1024, 1025])).tolist() == [
        "<=510", "<=510", "511-1024", "511-1024", ">1024",
    ]  # fmt: skip


def test_binary_metrics_on_known_answers():
    labels = np.array([1, 1, 0, 0])
    positive = np.array([0.9, 0.4, 0.2, 0.6])
    m = binary_metrics(labels, positive)
    assert m["accuracy"] == 0.5
    assert m["f1"] == pytest.approx(0.5)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.04 + 0.36) / 4)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.4])))
    assert m["confusion"] == [[1, 1], [1, 1]]
    assert m["accuracy_low"] < 0.5 < m["accuracy_high"]


def test_wilson_interval_matches_the_formula():
    low, high = wilson_interval(81, 100)
    assert (round(low, 4), round(high, 4)) == (0.7222, 0.8749)  # z = 1.96: center 0.7985, half-width 0.0763


def test_paired_comparison_counts_discordant_pairs():
    labels = np.ones(100, dtype=int)
    baseline = np.full(100, 0.9)
    baseline[:20] = 0.1  # baseline wrong on 0..19
    better = np.full(100, 0.9)
    better[95:] = 0.1  # wrong on 95..99
    right = lambda positive: (positive >= 0.5) == labels  # noqa: E731
    result = paired_correct(right(better), right(baseline))
    assert (result["wins"], result["losses"]) == (20, 5)
    assert result["accuracy_diff"] == pytest.approx(0.15)
    assert result["diff_low"] < 0.15 < result["diff_high"]
    assert result["mcnemar_p"] == pytest.approx(0.004077, abs=1e-5)  # exact binomial, 5 of 25 discordant
    same = paired_correct(right(baseline), right(baseline))
    assert same["mcnemar_p"] == 1.0 and same["accuracy_diff"] == 0.0


def test_holm_adjusts_step_down_and_stays_monotone():
    adjusted = holm(np.array([0.01, 0.04, 0.03, 0.5]))
    # sorted 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1 -> 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.5
    assert adjusted.tolist() == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm(np.array([0.5, 0.9])).tolist() == [1.0, 1.0], "capped at 1"


def test_against_best_keeps_what_noise_cannot_separate():
    from longbert.tasks import SingleLabel

    task = SingleLabel(("NEGATIVE", "POSITIVE"), 0.5)
    rng = np.random.default_rng(0)
    best = rng.random(2000) < 0.94
    close = best.copy()
    close[np.flatnonzero(best)[:4]] = False  # 4 reviews worse: within the noise
    poor = best.copy()
    poor[np.flatnonzero(best)[:120]] = False  # 120 worse: clearly below
    per_review = {"best": best, "close": close, "poor": poor}
    scores = {name: float(right.mean()) for name, right in per_review.items()}
    out = against_best(task, scores, per_review, lower=False)
    assert {name for name, stats in out.items() if stats["near_best"]} == {"best", "close"}
    assert out["best"]["best_diff"] == 0.0 and out["best"]["best_p_holm"] == 1.0
    assert out["poor"]["best_diff"] == pytest.approx(-0.06) and out["poor"]["best_diff_high"] < 0
    assert out["poor"]["best_p_holm"] == pytest.approx(min(1.0, 2 * out["poor"]["best_p"]))
    assert out["close"]["best_p_holm"] >= out["close"]["best_p"]


def test_expected_calibration_error_on_known_bins():
    # bin 0.1-0.2: predicted 0.15 twice, one positive (observed 0.5); bin 0.9-1.0: predicted 0.95, always positive
    bins = reliability_bins(np.array([0.15, 0.15, 0.95, 0.95]), np.array([1, 0, 1, 1]))
    assert bins["n"] == [2, 2] and bins["predicted"] == pytest.approx([0.15, 0.95])
    assert bins["observed"] == pytest.approx([0.5, 1.0])
    assert bins["ece"] == pytest.approx((2 * 0.35 + 2 * 0.05) / 4)
    assert reliability_bins(np.array([0.05, 0.95]), np.array([0, 1]))["ece"] == pytest.approx(0.05)
    from longbert.tasks import SingleLabel

    two = np.array([[0.95, 0.05], [0.05, 0.95]])
    assert task_metrics(SingleLabel(("NEGATIVE", "POSITIVE"), 0.5), np.array([0, 1]), two)["ece"] == pytest.approx(0.05)


def test_plan_has_head_first_and_every_pooling():
    entries = plan(parse_grid("510/510/1,256/128/1"), list(POOLINGS), ["head", "tail", "head+tail"])
    keys = [e.key for e in entries]
    assert keys[:3] == ["head 510", "tail 510", "head+tail 128+382"]
    assert len(keys) == 3 + 2 * len(POOLINGS)


def reviews():
    rng = np.random.default_rng(0)
    words = ["good", "bad", "film", "plot", "great", "awful", "the", "and"]
    lengths = [5, 40, 300, 600, 700, 1100, 1500, 20, 510, 2000]
    texts = [" ".join(rng.choice(words, n)) for n in lengths]
    return pd.DataFrame({"text": texts, "label": [i % 2 for i in range(len(texts))]})


def test_no_chunk_is_scored_twice(classifier, monkeypatch):
    frame = reviews()
    calls = []
    original = classifier.scorer

    def counting(chunks, **kwargs):
        calls.append(len(chunks))
        return original(chunks, **kwargs)

    monkeypatch.setattr(classifier, "scorer", counting)
    summary = evaluate(classifier, frame, model="tiny", chunkings=parse_grid("510/510/1,510/255/1"), progress=False)
    encoded = classifier.encode(frame["text"].tolist())
    distinct = set()
    for entry in plan(parse_grid("510/510/1,510/255/1"), list(POOLINGS), ["head", "tail", "head+tail"]):
        for review, enc in enumerate(encoded):
            distinct.update((review, w) for w in entry.strategy.windows(enc))
    assert sum(calls) == len(distinct) == summary.meta["distinct_chunks"]
    # head 510 is the first chunk of 510/510/1, and short reviews share one chunk across strategies
    assert calls[0] == len(frame)

    calls.clear()
    grid = parse_grid("510/510/1,510/255/1")
    tokens = sum(window_size(w) + classifier.special.count for _, w in distinct)
    evaluate(classifier, frame, model="tiny", chunkings=grid, progress=False, max_tokens=tokens)
    with pytest.raises(LongbertError, match=f"would score {tokens:,} tokens; the limit here is {tokens - 1:,}"):
        evaluate(classifier, frame, model="tiny", chunkings=grid, progress=False, max_tokens=tokens - 1)
    assert sum(calls) == len(distinct), "a refused run scores nothing"


def test_results_match_direct_prediction(classifier):
    frame = reviews()
    summary = evaluate(classifier, frame, model="tiny", chunkings=[Chunking(510, 255, 1)], progress=False)
    predictions = summary.predictions
    for pooling in POOLINGS:
        direct = classifier.predict(frame["text"].tolist(), Chunking(510, 255, 1), pooling)
        expected = [p.probabilities[1] for p in direct]
        assert np.allclose(predictions[f"chunk 510/255/1 {pooling}"], expected, atol=1e-5)
    head = classifier.predict(frame["text"].tolist(), parse_grid("510/510/1")[0])
    assert np.allclose(predictions["head 510"], [p.chunks[0].probabilities[1] for p in head], atol=1e-5)


def test_end_to_end_run_writes_results_and_resumes(capsys, tmp_path, model_dir):
    data = tmp_path / "reviews.parquet"
    reviews().to_parquet(data)
    out = tmp_path / "results"
    argv = ["--model", str(model_dir), "--data", str(data), "--out", str(out), "--quiet", "--precision", "fp32"]
    assert eval_main([*argv, "--grid", "510/510/1,128/64/1"]) == 0
    first = load_results(out)
    assert first.meta["chunks_scored"] > 0
    assert {"predictions.parquet", "disagreements.parquet", "summary.json", "summary.csv"} <= {
        p.name for p in out.iterdir()
    }
    figures = {p.name: p.read_text() for p in (out / "figures").iterdir()}
    drawn = ("accuracy", "buckets", "grid", "heatmap", "cost", "lengths", "calibration")
    assert set(figures) == {f"{n}.json" for n in drawn}
    shutil.rmtree(out / "figures")  # as on a machine without plotly; eval.figures draws them afterwards
    figures_main([str(out)])
    assert {p.name: p.read_text() for p in (out / "figures").iterdir()} == figures
    row = first.rows[0]
    assert row["setting"] == "head 510" and row["accuracy_diff"] == 0
    assert set(row["buckets"]) == {"<=510", "511-1024", ">1024"}
    assert sum(row["buckets"][b]["n"] for b in row["buckets"]) == 10
    assert pd.read_csv(out / "summary.csv").shape[0] == len(first.rows)
    assert eval_main([*argv, "--grid", "510/510/1,128/64/1"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["meta"]["chunks_scored"] == 0, "a rerun reuses every scored chunk"
    assert again["meta"]["chunks_reused"] == first.meta["distinct_chunks"]
    for a, b in zip(first.rows, again["rows"]):
        assert a["accuracy"] == b["accuracy"] and math.isclose(a["log_loss"], b["log_loss"], rel_tol=1e-9)
    capsys.readouterr()


def test_limit_samples_balanced_reviews(capsys, tmp_path, model_dir):
    out = tmp_path / "sample"
    code = eval_main(["--model", str(model_dir), "--data", "sample", "--limit", "6", "--out", str(out), "--quiet",
                      "--grid", "510/510/1", "--poolings", "mean"])  # fmt: skip
    assert code == 0
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert len(predictions) == 6 and predictions["label"].sum() == 3
    assert "review_id" in predictions


@pytest.mark.parametrize(
    "args, message",
    [
        (["--grid", "head"], "--grid takes chunkings"),
        (["--poolings", "sum"], "unknown pooling"),
        (["--grid", "510/600/1"], "stride"),
        (["--data", "/nonexistent/dir"], "IMDB data not found"),
    ],
)
def test_bad_arguments(capsys, tmp_path, model_dir, args, message):
    code = eval_main(["--model", str(model_dir), "--out", str(tmp_path / "x"), "--data", "sample", *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_review_without_tokens_scores_one_half(classifier):
    frame = pd.DataFrame({"text": ["good film " * 50, "  ", "<br />"], "label": [1, 0, 1]})
    summary = evaluate(classifier, frame, model="tiny", chunkings=parse_grid("510/510/1"), progress=False)
    predictions = summary.predictions
    for key in ("head 510", "chunk 510/510/1 max", "chunk 510/510/1 median"):
        assert predictions[key].tolist()[1:] == [0.5, 0.5]
        assert predictions[key][0] != 0.5


def test_cached_scores_are_not_shared_between_fp32_and_bf16_weights(classifier):
    import copy

    import torch

    half = LongTextClassifier(
        copy.deepcopy(classifier.model).to(torch.bfloat16), classifier.tokenizer, settings=classifier.settings,
        device="cpu",
    )  # fmt: skip
    assert half.runtime.autocast is None is classifier.runtime.autocast  # neither runs under autocast
    assert fingerprint(half) != fingerprint(classifier)


def test_two_class_decisions_agree_with_accuracy_on_a_tie():
    from eval.metrics import task_metrics
    from longbert import SingleLabel

    task = SingleLabel(("NEGATIVE", "POSITIVE"))
    outputs = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    labels = np.array([1, 0, 0])
    right = task.per_review(labels, outputs)
    assert right.tolist() == [True, True, False]  # P(positive) = 0.5 is positive, as binary_metrics counts it
    assert task_metrics(task, labels, outputs)["accuracy"] == right.mean()
    assert task.decisions(outputs).tolist() == [1, 0, 1]
    assert task.decide(outputs[0])["label"] == "POSITIVE", "a prediction decides as the metrics do"


def run_into(classifier, frame, out, grid="510/510/1,128/64/1", **kwargs) -> dict:
    return evaluate(classifier, frame, model="tiny", chunkings=parse_grid(grid), out_dir=out, progress=False, **kwargs)


def test_a_damaged_cache_part_is_detected_and_only_its_chunks_are_scored_again(classifier, tmp_path, capsys):
    frame = reviews()
    first = run_into(classifier, frame, tmp_path)
    parts = sorted((tmp_path / "cache").glob("part-*.npz"))
    assert len(parts) >= 3, "one part a strategy that scored new chunks"
    parts[1].write_bytes(parts[1].read_bytes()[: parts[1].stat().st_size // 2])  # a kill while copying, say
    data = dict(np.load(parts[2]))
    data["logits"] = data["logits"] + 1  # the bytes changed, the file still reads
    np.savez(parts[2], **data)
    again = run_into(classifier, frame, tmp_path)
    assert 0 < again.meta["chunks_scored"] < first.meta["distinct_chunks"]
    assert again.meta["chunks_scored"] == sum(
        len(np.load(p)["digest"]) for p in sorted(tmp_path.glob("cache/part-*.npz"))[-2:]
    )
    assert "damaged or stale" in capsys.readouterr().err
    pd.testing.assert_frame_equal(again.predictions, first.predictions)
    assert run_into(classifier, frame, tmp_path).meta["chunks_scored"] == 0, "the rescored parts were saved"


def test_the_cache_never_gives_one_reviews_scores_to_another(classifier, tmp_path):
    frame = reviews()
    run_into(classifier, frame.iloc[:6], tmp_path)
    shuffled = frame.iloc[::-1].reset_index(drop=True)  # other reviews at the cached positions
    summary = run_into(classifier, shuffled, tmp_path)
    assert summary.meta["chunks_reused"] > 0
    expected = evaluate(classifier, shuffled, model="tiny", chunkings=parse_grid("510/510/1,128/64/1"), progress=False)
    pd.testing.assert_frame_equal(summary.predictions, expected.predictions)
    from conftest import save_tiny_model

    weights = save_tiny_model(tmp_path / "m", seed=9)
    another = LongTextClassifier.from_pretrained(weights, device="cpu", precision="fp32")
    other = evaluate(another, frame, model="tiny", chunkings=parse_grid("510/510/1"), out_dir=tmp_path, progress=False)
    assert other.meta["chunks_reused"] == 0, "another model's parts are not used, whatever its name"


def test_results_are_replaced_as_one_set_even_when_killed_while_writing(classifier, tmp_path, monkeypatch):
    import eval.figures
    import longbert.files

    frame = reviews()
    old = run_into(classifier, frame, tmp_path, grid="510/510/1")
    old_files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # killed before the new set was whole: the old set stays
        patch.setattr(eval.figures, "write_figures", killed)
        with pytest.raises(KeyboardInterrupt):
            run_into(classifier, frame, tmp_path, grid="128/64/1")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == old_files
    assert load_results(tmp_path).meta["settings"] == old.meta["settings"]
    assert not (tmp_path / ".writing").exists(), "the partial set is dropped"

    moved = []
    real_replace = longbert.files.os.replace

    def killed_after_one(source, target):
        if moved:
            raise KeyboardInterrupt
        moved.append(target)
        real_replace(source, target)

    with monkeypatch.context() as patch:  # killed while moving a whole set into place: reading finishes it
        patch.setattr(longbert.files.os, "replace", killed_after_one)
        with pytest.raises(KeyboardInterrupt):
            run_into(classifier, frame, tmp_path, grid="128/64/1")  # every chunk cached: only results move
    assert moved and tmp_path in Path(moved[0]).parents
    results = load_results(tmp_path)
    settings = results.meta["settings"]
    assert "chunk 128/64/1 mean" in settings and "chunk 510/510/1 mean" not in settings
    assert [c for c in results.predictions.columns if c in settings] == settings, "files of one set"
    assert not (tmp_path / ".writing").exists()


def test_a_run_comparing_too_many_settings_is_refused_before_any_scoring(classifier, monkeypatch):
    calls = []
    monkeypatch.setattr(classifier, "scorer", lambda chunks, **kwargs: calls.append(chunks))
    grid = parse_grid(",".join(f"{size}/{size}/1" for size in range(100, 400, 10)))  # 30 chunkings: 153 settings
    with pytest.raises(LongbertError, match="make 153 settings; the limit here is 64"):
        evaluate(classifier, reviews(), model="tiny", chunkings=grid, progress=False, max_settings=64)
    assert calls == []


def test_ctrl_c_stops_the_command_with_one_line(capsys, tmp_path, model_dir, monkeypatch):
    import eval.run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(eval.run, "evaluate", interrupted)
    code = eval_main(["--model", str(model_dir), "--data", "sample", "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 130 and err.count("\n") == 1 and "rerun to resume" in err and "Traceback" not in err


def test_bad_out_and_limit_are_one_line_before_any_scoring(capsys, tmp_path, model_dir):
    (tmp_path / "a-file").write_text("")
    cases = ((["--out", str(tmp_path / "a-file")], "is a file; it must be a results directory"),
             (["--out", str(tmp_path / "x"), "--limit", "0"], "--limit must be at least 1, got 0"))  # fmt: skip
    for args, message in cases:
        code = eval_main(["--model", str(model_dir), "--data", "sample", "--quiet", *args])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_the_cache_is_keyed_by_the_weights_not_the_path(tmp_path):
    from conftest import save_tiny_model

    frame = reviews()
    path = save_tiny_model(tmp_path / "model", init=0.5)
    first = run_into(LongTextClassifier.from_pretrained(path, device="cpu", precision="fp32"), frame, tmp_path / "r")
    save_tiny_model(path, seed=7, init=0.5)  # retrained in place: the same path, other weights
    retrained = LongTextClassifier.from_pretrained(path, device="cpu", precision="fp32")
    again = run_into(retrained, frame, tmp_path / "r")
    assert again.meta["chunks_reused"] == 0 and again.meta["chunks_scored"] == first.meta["chunks_scored"]
    expected = retrained.predict(frame["text"].tolist(), parse_grid("510/510/1")[0], "mean")
    assert np.allclose(again.predictions["chunk 510/510/1 mean"], [p.probabilities[1] for p in expected], atol=1e-5)


def test_settings_space_covers_sizes_strides_and_minimal_sizes():
    from eval.run import settings_space

    space = settings_space()
    fixed = [c for c in space if type(c) is Chunking]
    assert {c.chunk_size for c in fixed} == {64, 128, 256, 384, 510}
    assert {c.stride for c in fixed if c.chunk_size == 510} == {510, 382, 255, 128}
    assert {c.minimal_chunk_size for c in fixed if c.chunk_size == 64} == {1, 16, 32}
    assert len(fixed) == 60 and len(space) == 65, "and sentence-aware chunks at every size"


def test_length_sample_keeps_the_label_and_length_mix():
    from longbert.data import length_sample

    rng = np.random.default_rng(0)
    lengths = rng.lognormal(7, 0.8, 5000).astype(int) + 10
    frame = pd.DataFrame({"text": ["x" * n for n in lengths], "label": rng.integers(0, 2, 5000)})
    sample = length_sample(frame, 500, seed=1)
    assert len(sample) == 500 and sample.equals(length_sample(frame, 500, seed=1))
    assert abs(sample["label"].mean() - frame["label"].mean()) < 0.01
    deciles = np.quantile(frame["text"].str.len(), np.linspace(0.1, 0.9, 9))
    shares = np.histogram(sample["text"].str.len(), [0, *deciles, np.inf])[0] / 500
    assert np.allclose(shares, 0.1, atol=0.012), shares
    with pytest.raises(LongbertError, match="at least 40 rows"):
        length_sample(frame, 10)


def test_rows_record_tokens_chunks_and_timed_cost(classifier):
    frame = reviews()
    summary = evaluate(classifier, frame, model="tiny", chunkings=parse_grid("128/64/1"), poolings=["mean"],
                       truncations=["head"], progress=False, time_reviews=5)  # fmt: skip
    encoded = classifier.encode(frame["text"].tolist(), spans=False)
    chunked = Chunking(128, 64, 1)
    row = next(r for r in summary.rows if r["setting"] == "chunk 128/64/1 mean")
    windows = [w for e in encoded for w in chunked.windows(e)]
    assert row["chunks"] == len(windows)
    assert row["tokens"] == sum(e - s for w in windows for s, e in w) + classifier.special.count * len(windows)
    assert row["seconds_per_1k"] > 0 and summary.meta["timed_reviews"] == 5


def test_a_stopped_evaluation_stops_within_one_batch_and_keeps_whole_reviews(classifier, monkeypatch):
    from longbert.errors import Stopped
    from longbert.scoring import Meter

    frame = reviews()
    batches, real = [], classifier.model.forward
    meter = Meter()

    def forward(*args, **kwargs):  # Stop is pressed while the first batch is scored
        batches.append(1)
        meter.stop.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier.model, "forward", forward)
    grid = parse_grid("64/8/1")
    with pytest.raises(Stopped):
        evaluate(classifier, frame, model="tiny", chunkings=grid, poolings=["mean"], truncations=["head"],
                 progress=False, meter=meter)  # fmt: skip
    assert len(batches) == 1, "nothing is scored after the batch in flight"
    assert 0 < meter.done < meter.planned

    monkeypatch.setattr(classifier.model, "forward", real)
    whole = evaluate(classifier, frame, model="tiny", chunkings=grid, poolings=["mean"], progress=False)
    meter = Meter(pause=lambda: meter.done > meter.planned / 2 and meter.stop.set())
    part = evaluate(classifier, frame, model="tiny", chunkings=grid, poolings=["mean"], progress=False, meter=meter,
                    block_reviews=2)  # fmt: skip
    scored = part.meta["partial"]["reviews_scored"]
    assert 0 < scored < len(frame) and scored % 2 == 0 and part.meta["partial"]["reviews_planned"] == len(frame)
    assert part.reviews == scored and len(part.predictions) == scored
    pd.testing.assert_frame_equal(part.predictions, whole.predictions.iloc[:scored], check_exact=False, atol=1e-5)


def test_aligned_pairs_reviews_by_label_and_id_since_imdb_ids_repeat_across_labels():
    from eval.compare import aligned
    from eval.results import Results

    a = Results({}, [], pd.DataFrame({"review_id": [7, 7, 3, 9], "label": [0, 1, 1, 0]}))
    b = Results({}, [], pd.DataFrame({"review_id": [3, 7, 7, 5], "label": [1, 1, 0, 0]}))
    rows_a, rows_b = aligned(a, b)
    assert rows_a.tolist() == [0, 1, 2] and rows_b.tolist() == [2, 1, 0]
    pa, pb = a.predictions.iloc[rows_a], b.predictions.iloc[rows_b]
    assert (pa.to_numpy() == pb.to_numpy()).all()


def test_every_committed_summary_compares_each_setting_with_the_best_and_names_its_adjustment():
    for summary in sorted(Path("eval/results").glob("*/summary.json")):
        results = load_results(summary.parent)
        assert "Holm" in results.meta["against_best"], summary
        best = {row["best"] for row in results.rows}
        assert len(best) == 1 and best <= set(results.settings), summary
        for row in results.rows:
            assert {"best_diff", "best_diff_low", "best_diff_high", "best_p_holm", "near_best"} <= set(row), summary
            assert row["best_p_holm"] >= row["best_p"]
        assert any(row["near_best"] for row in results.rows)
        if not results.task.values:
            assert all(0 <= row["ece"] <= 1 for row in results.rows), summary


def test_restating_a_set_recomputes_its_statistics_and_keeps_what_it_measured(tmp_path):
    from eval.restate import main as restate_main

    source = Path("eval/results/imdb-test-sentences")
    shutil.copytree(source, tmp_path / "set")
    before = load_results(tmp_path / "set")
    for row in before.rows:
        row["accuracy"], row["chunks"] = -1.0, 12345  # a stale statistic, a measured cost
    before.write(tmp_path / "set")
    restate_main([str(tmp_path / "set")])
    after, committed = load_results(tmp_path / "set"), load_results(source)
    assert [r["accuracy"] for r in after.rows] == [r["accuracy"] for r in committed.rows]
    assert {r["chunks"] for r in after.rows} == {12345}
    assert (tmp_path / "set" / "figures" / "calibration.json").is_file()
