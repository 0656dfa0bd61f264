"""Sentence evidence (longbert.evidence): the effects equal taking each sentence out by hand, only the chunks
holding a sentence are scored again, spans are the text's own, and every task type, pooling and strategy works."""

import itertools
import json

import blingfire
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from longbert import Chunking, LongTextClassifier, Sentences, Truncation
from longbert.chunking import window_ids
from longbert.errors import Stopped
from longbert.evidence import explain, occlusions, sentence_ranges
from longbert.pooling import POOLINGS, pool
from longbert.scoring import Meter, tokens_scored
from longbert.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from tests.helpers.keyword_model import keyword_model

GOOD = "The acting was great and the music was great too."
PLAIN = "We saw it on a rainy evening in the old town."
BAD = "Honestly the ending was terrible, terrible, terrible."


def classifier_of(tokenizer, task: str = SINGLE_LABEL) -> LongTextClassifier:
    if task == SINGLE_LABEL:
        words, labels = {"great": [0.0, 3.0], "terrible": [0.0, -9.0]}, ["NEGATIVE", "POSITIVE"]
    elif task == MULTI_LABEL:
        words, labels = {"great": [3.0, 0.0], "terrible": [-2.0, 4.0], "music": [0.0, 2.0]}, ["praise", "gripe"]
    else:
        words, labels = {"great": [2.0], "terrible": [-5.0]}, ["rating"]
    model = keyword_model(tokenizer, words, labels, task)
    return LongTextClassifier(model, tokenizer, device="cpu", precision="fp32")


def review(n: int = 12, planted: int | None = 7) -> str:
    sentences = [GOOD if i % 2 else PLAIN for i in range(n)]
    if planted is not None:
        sentences[planted] = BAD
    return " ".join(sentences)


def by_hand(classifier, text, strategy, pooling):
    """Each sentence's effect found the slow way: its tokens cut from every window, every chunk scored again."""
    (encoded,) = classifier.encode([text], sentences=True)
    windows = strategy.windows(encoded)
    task = classifier.task

    def pooled(ws):
        ws = [w for w in ws if w]
        if not ws:
            return task.filled(np.full((1, len(task.labels)), np.nan))[0]
        ids = [window_ids(encoded, w) for w in ws]
        from longbert.chunking import Chunks

        logits = classifier.score(Chunks(ids, [len(ids)], [ws])).logits
        lengths = torch.tensor([float(len(i)) for i in ids])
        return pool(logits, [len(ids)], pooling, lengths, task.activation)[0].double().numpy()

    whole = pooled(windows)
    rows = []
    for a, b in sentence_ranges(encoded):
        cut = [tuple((s, e) for s, e in ((s, min(e, a)), (max(s, b), e)) if e > s) if s < b and a < e else ((s, e),)
               for w in windows for s, e in w]  # fmt: skip
        # a window of one range becomes the tuple of what is left of it; head+tail windows are joined again
        joined, k = [], 0
        for w in windows:
            parts = cut[k : k + len(w)]
            k += len(w)
            joined.append(tuple(r for part in parts for r in part))
        rows.append(whole - pooled(joined))
    return np.array(rows)


def test_the_planted_sentence_pulls_hardest_against_the_verdict(tokenizer):
    classifier = classifier_of(tokenizer)
    (explanation,) = explain(classifier, review(), Chunking(32, 32, 1), "mean")
    assert explanation.prediction.label == "POSITIVE"
    effects = explanation.headline()
    spans = explanation.spans
    text = review()
    worst = int(np.argmin(effects))
    assert text[slice(*spans[worst])] == BAD
    assert effects[worst] < 0
    assert all(effects[j] > 0 for j, s in enumerate(spans) if text[slice(*s)] == GOOD)
    assert explanation.records()[worst] == {"span": list(spans[worst]), "effect": pytest.approx(effects[worst])}


@pytest.mark.parametrize("task", [SINGLE_LABEL, MULTI_LABEL, REGRESSION])
@pytest.mark.parametrize("strategy", [Chunking(32, 32, 1), Chunking(40, 16, 8), Sentences(40, 20, 1),
                                      Truncation(24, 30)], ids=lambda s: s.name)  # fmt: skip
def test_effects_equal_taking_each_sentence_out_by_hand(tokenizer, task, strategy):
    classifier = classifier_of(tokenizer, task)
    text = review(14, planted=3)
    for pooling in POOLINGS:
        (explanation,) = explain(classifier, text, strategy, pooling)
        np.testing.assert_allclose(explanation.effects, by_hand(classifier, text, strategy, pooling), atol=1e-6)


def test_each_task_reports_its_own_effect(tokenizer):
    text = review(10, planted=3)
    single = explain(classifier_of(tokenizer, SINGLE_LABEL), text)[0]
    multi = explain(classifier_of(tokenizer, MULTI_LABEL), text)[0]
    value = explain(classifier_of(tokenizer, REGRESSION), text)[0]
    assert isinstance(single.records()[0]["effect"], float)
    assert set(multi.records()[3]["effect"]) == {"praise", "gripe"}
    assert multi.records()[3]["effect"]["gripe"] > 0 > multi.records()[3]["effect"]["praise"]
    assert isinstance(value.records()[0]["effect"], float)
    assert value.records()[3]["effect"] < 0 < value.records()[1]["effect"]
    assert set(single.to_dict()) >= {"label", "probabilities", "chunks", "evidence"}


def test_only_the_chunks_holding_a_sentence_are_scored_again(tokenizer):
    classifier = classifier_of(tokenizer)
    text = review(16)
    strategy = Chunking(30, 20, 1)
    (encoded,) = classifier.encode([text], sentences=True)
    chunks = classifier.chunk([encoded], strategy)
    windows = chunks.windows[0]
    plan = occlusions([encoded], chunks)
    expected = 0
    for (a, b), changed in zip(plan.sentences[0], plan.changes[0]):
        holding = [k for k, ((s, e),) in enumerate(windows) if s < b and a < e]
        assert [k for k, _ in changed] == holding
        for k, row in changed:
            ((s, e),) = windows[k]
            kept = [t for t in range(s, e) if not a <= t < b]
            if row >= 0:
                np.testing.assert_array_equal(plan.chunks.ids[row], encoded.ids[kept])
        expected += sum(row >= 0 for _, row in changed)
    classifier.model.rows = 0
    meter = Meter()
    (explanation,) = explain(classifier, text, strategy, meter=meter)
    assert explanation.rescored == expected < len(plan.sentences[0]) * len(windows)
    assert classifier.model.rows == len(windows) + expected  # the text's chunks once, then only the changed ones
    assert meter.done == tokens_scored(chunks, classifier.special) + plan.cost(classifier.special)
    assert meter.planned == meter.done


def test_spans_are_the_texts_own_sentences(tokenizer):
    text = "  Café <br />au lait was great. It was  terrible!<br /><br />Naïve, but great…   The end.  "
    classifier = classifier_of(tokenizer)
    classifier.settings = type(classifier.settings)(classifier.settings.strategy, clean_markup=True)
    (explanation,) = explain(classifier, text, Chunking(8, 8, 1))
    spans = explanation.spans
    assert all(a < b <= c for (a, b), (c, _) in itertools.pairwise(spans))
    cleaned = text.replace("<br />", "      ")  # markup is blanked in place, so offsets are the original text's
    sentences = [cleaned[s:e].strip() for s, e in blingfire.text_to_sentences_and_offsets(cleaned)[1]]
    assert [cleaned[s:e] for s, e in spans] == sentences
    assert [text[s:e] for s, e in spans][:2] == ["Café <br />au lait was great.", "It was  terrible!"]


def test_max_pooling_gives_zero_outside_the_winning_chunk(tokenizer):
    classifier = classifier_of(tokenizer)
    text = " ".join([PLAIN, GOOD, PLAIN, GOOD, GOOD, GOOD, PLAIN, PLAIN, GOOD, PLAIN])
    strategy = Chunking(36, 36, 1)
    (explanation,) = explain(classifier, text, strategy, "max")
    winner = int(np.argmax([c.probabilities[1] for c in explanation.prediction.chunks]))
    won = explanation.prediction.chunks[winner].span
    inside = [won[0] <= s and e <= won[1] for s, e in explanation.spans]
    outside = [j for j, (s, e) in enumerate(explanation.spans) if e <= won[0] or s >= won[1]]
    assert outside and any(inside)
    assert all(explanation.effects[j].tolist() == [0.0, 0.0] for j in outside)
    assert any(explanation.headline()[j] != 0 for j, i in enumerate(inside) if i)


def test_a_stop_ends_an_explanation_between_batches(tokenizer):
    classifier = classifier_of(tokenizer)
    classifier.runtime = classifier.runtime.with_options(64, None)  # many small batches
    classifier.scorer = classifier.scorer_with(batch_tokens=64)
    meter = Meter()
    batches = []

    def pause():
        batches.append(meter.done)
        if meter.done > meter.planned / 2:
            meter.stop.set()

    meter.pause = pause
    with pytest.raises(Stopped):
        explain(classifier, review(30), Chunking(60, 60, 1), meter=meter)
    assert meter.planned / 2 < meter.done < meter.planned  # stopped in the middle, costed before the first batch
    assert batches[0] == 0 and len(batches) > 4


def test_texts_without_words_and_one_sentence_texts(tokenizer):
    classifier = classifier_of(tokenizer)
    empty, one = explain(classifier, ["   ", BAD], Chunking(8, 8, 1))
    assert empty.records() == [] and empty.prediction.label is None
    (record,) = one.records()
    # without its only sentence the text has no tokens: the answer for no words (0.5) against its own
    assert record["effect"] == pytest.approx(one.prediction.probabilities[0] - 0.5)


@settings(max_examples=25, deadline=None)
@given(chunk_size=st.integers(4, 40), share=st.floats(0.1, 1.0), planted=st.integers(0, 5),
       pooling=st.sampled_from(POOLINGS))  # fmt: skip
def test_any_chunking_explains_as_by_hand(tokenizer, chunk_size, share, planted, pooling):
    classifier = classifier_of(tokenizer)
    strategy = Chunking(chunk_size, max(1, int(chunk_size * share)), 1)
    text = review(6, planted)
    (explanation,) = explain(classifier, text, strategy, pooling)
    np.testing.assert_allclose(explanation.effects, by_hand(classifier, text, strategy, pooling), atol=1e-6)


def test_predict_explain_adds_evidence_to_each_line_and_to_the_parts(tmp_path, capsys, model_dir, classifier):
    from longbert.cli import main

    texts = [review(12), "   ", review(5, planted=None)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    flags = ["--model", str(model_dir), "--precision", "fp32", "--chunk-size", "32", "--quiet"]
    assert main(["predict", str(source), *flags, "--explain"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    direct = explain(classifier, texts, Chunking(32, 32, 1))
    assert [line["evidence"] for line in lines] == [
        [{"span": r["span"], "effect": pytest.approx(r["effect"], abs=1e-6)} for r in e.records()] for e in direct
    ]
    assert lines[1]["evidence"] == []
    for text, line in zip(texts, lines):
        pieces = [text[s:e] for s, e in (r["span"] for r in line["evidence"])]
        assert " ".join(pieces) == " ".join(text.split()), "the spans are the text's sentences, in order"
    out = tmp_path / "out"
    assert main(["predict", str(source), *flags, "--explain", "--output", str(out)]) == 0
    capsys.readouterr()
    parts = pq.read_table(sorted(str(p) for p in out.glob("part-*.parquet"))).to_pandas()
    assert [[list(r["span"]) for r in evidence] for evidence in parts["evidence"]] == [
        [r["span"] for r in line["evidence"]] for line in lines
    ]
    np.testing.assert_allclose([r["effect"] for r in parts["evidence"][0]],
                               [r["effect"] for r in lines[0]["evidence"]], atol=1e-6)  # fmt: skip
    assert json.loads((out / "_settings.json").read_text())["explain"] is True
