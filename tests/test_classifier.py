"""The classifier end to end on tiny random-weight models: batching, padding, empty and odd texts, any tokenizer."""

import numpy as np
import pytest
import torch

from longbert import HEAD_TAIL, Chunking, LongbertError, LongTextClassifier, Truncation
from longbert.encoding import SpecialTokens
from longbert.scoring import collate, score_chunks, token_budget_batches

REVIEWS = [
    "A wonderful film. " * 5,
    "Terrible acting, worse plot, and the ending made no sense at all. " * 80,
    "ok",
    "I laughed, I cried.<br /><br />Then I laughed again. " * 200,
    "Mixed feelings. " * 520,
]


def assert_same_predictions(a, b, atol=1e-5):
    assert [p.label for p in a] == [p.label for p in b]
    for x, y in zip(a, b):
        assert np.allclose(x.probabilities, y.probabilities, atol=atol)
        assert len(x.chunks) == len(y.chunks)
        for cx, cy in zip(x.chunks, y.chunks):
            assert np.allclose(cx.probabilities, cy.probabilities, atol=atol)
            assert (cx.spans, cx.tokens) == (cy.spans, cy.tokens)


@pytest.mark.parametrize("pooling", ["mean", "max", "logit_mean", "median", "weighted_mean"])
def test_many_texts_at_once_equal_one_at_a_time(classifier, pooling):
    strategy = Chunking(128, 64, 16)
    together = classifier.predict(REVIEWS, strategy, pooling, batch_tokens=4096)
    alone = [classifier.predict(text, strategy, pooling)[0] for text in REVIEWS]
    assert_same_predictions(together, alone)


def test_token_budget_and_fixed_padding_do_not_change_answers(classifier):
    reference = classifier.predict(REVIEWS, Chunking(200, 200, 1))
    assert_same_predictions(reference, classifier.predict(REVIEWS, Chunking(200, 200, 1), batch_tokens=1))
    assert_same_predictions(reference, classifier.predict(REVIEWS, Chunking(200, 200, 1), padding="max_length"))


def test_one_encoding_serves_several_strategies(classifier):
    encoded = classifier.encode(REVIEWS)
    for strategy, pooling in [(Chunking(128, 64, 16), "max"), (HEAD_TAIL, None)]:
        reference = classifier.predict(REVIEWS, strategy, pooling)
        scores = classifier.score(classifier.chunk(encoded, strategy))
        assert_same_predictions(reference, classifier.pool(scores, encoded, pooling))
    with pytest.raises(LongbertError, match="unknown pooling"):
        classifier.pool(scores, encoded, pooling="sum")


def test_streaming_in_groups_equals_one_call_and_reads_input_lazily(classifier, monkeypatch):
    import longbert.classifier as module

    monkeypatch.setattr(module, "GROUP_TEXTS", 2)  # groups of two texts, the next tokenized in a thread
    reference = classifier.predict(REVIEWS * 2, Chunking(128, 128, 1))
    assert_same_predictions(reference, list(classifier.iter_predict(iter(REVIEWS * 2), Chunking(128, 128, 1))))

    read = []

    def endless():
        while True:
            read.append(1)
            yield REVIEWS[len(read) % len(REVIEWS)]

    stream = classifier.iter_predict(endless(), Chunking(128, 128, 1))
    first = next(stream)
    stream.close()
    assert first.label in classifier.labels
    assert len(read) <= 4  # this group and the one being tokenized ahead, no more


def test_a_bad_text_in_a_later_group_is_named_by_its_place_in_the_input(classifier, monkeypatch):
    import longbert.classifier as module

    monkeypatch.setattr(module, "GROUP_TEXTS", 2)
    with pytest.raises(LongbertError, match="text 3 is NoneType, not a string"):
        list(classifier.iter_predict(iter(["fine", "good", "bad", None, "never"]), Chunking(128, 128, 1)))


def test_prediction_fields(classifier):
    text = REVIEWS[1]
    (prediction,) = classifier.predict(text, Chunking(510, 510, 1))
    n = len(classifier.encode([text])[0])
    assert prediction.num_tokens == n
    assert len(prediction.chunks) == -(-n // 510)
    assert [c.tokens for c in prediction.chunks] == [min(510, n - i) for i in range(0, n, 510)]
    assert prediction.label in classifier.labels
    assert prediction.label == classifier.labels[int(np.argmax(prediction.probabilities))]
    assert sum(prediction.probabilities) == pytest.approx(1, abs=1e-6)
    mean = np.mean([c.probabilities for c in prediction.chunks], axis=0)
    assert np.allclose(prediction.probabilities, mean, atol=1e-6)
    assert prediction.chunks[0].span[0] == 0
    assert prediction.chunks[-1].span[1] == len(text.rstrip())
    record = prediction.to_dict()
    assert record["num_chunks"] == len(prediction.chunks)
    assert set(record["probabilities"]) == {"NEGATIVE", "POSITIVE"}


def test_chunk_spans_cover_the_chunk_text(classifier):
    text = "Great. " * 100 + "The middle drags on. " * 100 + "Superb finish! " * 100
    (prediction,) = classifier.predict(text, Chunking(100, 60, 1))
    encoded = classifier.encode([text])[0]
    for i, chunk in enumerate(prediction.chunks):
        start, end = chunk.span
        assert (start, end) == (encoded.offsets[i * 60, 0], encoded.offsets[min(i * 60 + 100, len(encoded)) - 1, 1])
        assert text[start:end] == text[start:end].strip()


def test_head_tail_chunk_has_two_spans(classifier):
    text = " ".join(f"w{i}" for i in range(800))
    (prediction,) = classifier.predict(text, HEAD_TAIL)
    (chunk,) = prediction.chunks
    assert chunk.tokens == 510
    assert len(chunk.spans) == 2
    assert chunk.spans[0][0] == 0 and chunk.spans[1][1] == len(text)


def test_empty_and_whitespace_texts_have_no_label(classifier):
    predictions = classifier.predict(["", "   \n\t ", REVIEWS[0], "<br /><br />"])
    for index in (0, 1, 3):
        assert predictions[index].label is None
        assert predictions[index].probabilities is None
        assert predictions[index].chunks == ()
        assert predictions[index].num_tokens == 0
    assert predictions[2] == classifier.predict(REVIEWS[0])[0]
    assert predictions[0].to_dict()["num_chunks"] == 0


def test_emoji_and_non_latin_scripts(classifier):
    text = "Loved it 😍😍 素晴らしい映画でした。 Отличный фильм! ممتاز " * 40
    (prediction,) = classifier.predict(text, Chunking(64, 64, 1))
    assert prediction.label in classifier.labels
    assert len(prediction.chunks) == -(-prediction.num_tokens // 64)
    ends = [c.span[1] for c in prediction.chunks]
    assert ends == sorted(ends) and ends[-1] == len(text.rstrip())


def test_html_markup_is_not_read_as_tokens(classifier):
    with_markup = classifier.predict("Fine.<br /><br />Really fine.")[0]
    with_spaces = classifier.predict("Fine.            Really fine.")[0]
    assert with_markup.num_tokens == with_spaces.num_tokens == 5
    assert np.allclose(with_markup.probabilities, with_spaces.probabilities, atol=1e-6)


def test_million_token_text_runs_in_bounded_batches(classifier):
    text = "good " * 1_000_000
    (prediction,) = classifier.predict(text, Chunking(510, 510, 1), batch_tokens=8192)
    assert prediction.num_tokens == 1_000_000
    assert len(prediction.chunks) == -(-1_000_000 // 510)


def test_token_budget_batches_bound_the_padded_size():
    lengths = [5, 300, 40, 512, 512, 7, 120, 64, 64, 1]
    batches = list(token_budget_batches(lengths, 1024))
    assert sorted(int(i) for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 1024
    order = [lengths[i] for b in batches for i in b]
    assert order == sorted(lengths, reverse=True)


def test_collate_adds_the_tokenizers_special_tokens():
    special = SpecialTokens(prefix=(0,), suffix=(2,), pad_id=1)
    ids, mask = collate([np.array([7, 8, 9]), np.array([5])], special)
    assert ids.tolist() == [[0, 7, 8, 9, 2], [0, 5, 2, 1, 1]]
    assert mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    ids, _ = collate([np.array([5])], special, pad_to=6)
    assert ids.tolist() == [[0, 5, 2, 1, 1, 1]]
    ids, mask = collate([np.array([5])], special, pad_multiple=4)
    assert ids.tolist() == [[0, 5, 2, 1]] and mask.tolist() == [[1, 1, 1, 0]]


def test_rounded_batch_widths_do_not_change_answers(classifier):
    chunks = [e.ids[:n] for e, n in zip(classifier.encode(REVIEWS), (3, 70, 1, 200, 129))]
    runtime = classifier.runtime.with_options(batch_tokens=512)
    plain = score_chunks(classifier.model, chunks, classifier.special, runtime)
    rounded = score_chunks(classifier.model, chunks, classifier.special, runtime.with_options(pad_multiple=64))
    assert torch.allclose(plain, rounded, atol=1e-5)
    with pytest.raises(LongbertError, match="pad_multiple must be a positive integer"):
        runtime.with_options(pad_multiple=0)


def test_half_precision_weights_run_without_autocast(model_dir):
    full = LongTextClassifier.from_pretrained(model_dir, device="cpu", precision="fp32")
    half = LongTextClassifier.from_pretrained(model_dir, device="cpu", precision="fp32")
    half = LongTextClassifier(half.model.to(torch.bfloat16), half.tokenizer, settings=half.settings, device="cpu")
    assert half.runtime.autocast is None and half.precision_name == "bfloat16 weights"
    assert next(full.model.parameters()).dtype == torch.float32  # on a CPU, loading keeps fp32
    assert_same_predictions(full.predict(REVIEWS), half.predict(REVIEWS), atol=5e-2)


def test_classifier_rejects_bad_settings(classifier):
    with pytest.raises(LongbertError, match="exceeds what the model allows"):
        classifier.predict("text", Chunking(511, 511, 1))
    with pytest.raises(LongbertError, match="stride"):
        classifier.predict("text", Chunking(100, 101, 1))
    with pytest.raises(LongbertError, match="unknown pooling"):
        classifier.predict("text", pooling="sum")
    with pytest.raises(LongbertError, match="padding"):
        classifier.predict("text", padding="fixed")
    with pytest.raises(LongbertError, match="more than the model allows"):
        classifier.predict("text", Truncation(300, 300))
    with pytest.raises(LongbertError, match="not a string"):
        classifier.predict(["fine", 3])


def test_three_class_model(tokenizer):
    from conftest import tiny_bert

    classifier = LongTextClassifier(tiny_bert(num_labels=3), tokenizer, device="cpu", precision="fp32")
    (prediction,) = classifier.predict(REVIEWS[3], Chunking(256, 128, 1), "max")
    assert len(prediction.probabilities) == 3
    assert sum(prediction.probabilities) == pytest.approx(1, abs=1e-6)
    assert classifier.labels == ["CLASS_0", "CLASS_1", "CLASS_2"]


@pytest.mark.parametrize(
    "num_labels, problem_type, message",
    [(1, "single_label_classification", "two or more classes"), (2, "ranking", "problem_type 'ranking'")],
)
def test_inconsistent_task_configs_are_refused(tokenizer, num_labels, problem_type, message):
    from conftest import tiny_bert

    model = tiny_bert(num_labels=num_labels)
    model.config.problem_type = problem_type
    with pytest.raises(LongbertError, match=message):
        LongTextClassifier(model, tokenizer, device="cpu")


def roberta_style(tmp_path):
    """A byte-level BPE tokenizer with RoBERTa's <s> </s> <pad> and a tiny RoBERTa classifier."""
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(REVIEWS * 3, vocab_size=400, special_tokens=specials)
    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=64,
    )
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=66,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=2,
    )
    return RobertaForSequenceClassification(config).eval(), tokenizer


def test_roberta_style_tokenizer_gets_its_own_special_tokens(tmp_path):
    model, tokenizer = roberta_style(tmp_path)
    classifier = LongTextClassifier(model, tokenizer, device="cpu", precision="fp32")
    assert classifier.special == SpecialTokens(prefix=(0,), suffix=(2,), pad_id=1)
    assert classifier.max_length == 64
    assert classifier.max_chunk_size == 62
    with pytest.raises(LongbertError, match="exceeds what the model allows"):
        classifier.predict("text", Chunking(510, 510, 1))
    strategy = Chunking(62, 31, 1)
    together = classifier.predict(REVIEWS, strategy)
    alone = [classifier.predict(text, strategy)[0] for text in REVIEWS]
    assert_same_predictions(together, alone)
    encoded = classifier.encode([REVIEWS[1]])[0]
    ids, _ = collate([encoded.ids[:62]], classifier.special)
    expected = tokenizer(REVIEWS[1], truncation=True, max_length=64)["input_ids"]
    assert ids[0].tolist() == expected


def test_bf16_autocast_stays_close_to_fp32(model_dir, classifier):
    bf16 = LongTextClassifier.from_pretrained(model_dir, device="cpu", precision="bf16")
    assert bf16.runtime.autocast == torch.bfloat16 and bf16.precision_name == "bfloat16 autocast"
    assert classifier.precision_name == "float32"
    for fast, exact in zip(bf16.predict(REVIEWS), classifier.predict(REVIEWS)):
        assert np.allclose(fast.probabilities, exact.probabilities, atol=2e-2)


def test_unknown_precision_is_rejected(model_dir):
    with pytest.raises(LongbertError, match="unknown precision 'fp8'"):
        LongTextClassifier.from_pretrained(model_dir, device="cpu", precision="fp8")
