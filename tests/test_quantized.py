"""The int8 CPU path: an ONNX export that matches torch on any batch shape, int8 answers close to fp32 for every task
type, and clear errors where int8 does not apply."""

import sys

import numpy as np
import pytest
import torch
from conftest import save_tiny_model, tiny_bert

from longbert import LongTextClassifier
from longbert.engines.onnx_export import export_onnx
from longbert.engines.onnx_int8 import int8_session, onnx_session
from longbert.errors import LongbertError
from longbert.runtime import autocast_dtype, cpu_instruction_set
from longbert.scoring import ArrayScorer, collate
from longbert.training import TrainConfig

REVIEWS = [
    "A wonderful, moving film with a superb cast. " * 40,
    "Dull and far too long; the plot made no sense at all. " * 25,
    "Not bad.",
    "I expected more, but the ending was worth it. " * 90,
]


@pytest.fixture(scope="module")
def varied_dir(tmp_path_factory):
    """A tiny model whose answers vary from text to text (init 0.5), so int8 rounding could flip them."""
    return save_tiny_model(tmp_path_factory.mktemp("varied"), init=0.5)


@pytest.mark.parametrize("shape", [(1, 3), (7, 40), (3, 512)])
def test_onnx_export_matches_torch_on_shapes_unlike_its_example(tmp_path, classifier, shape):
    rows, width = shape
    rng = np.random.default_rng(rows)
    chunks = [rng.integers(1000, 30000, size=int(n)) for n in np.linspace(1, width - 2, rows)]
    ids, mask = collate(chunks, classifier.special)
    session = onnx_session(export_onnx(classifier.model, classifier.special, tmp_path / "model.onnx"))
    got = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    with torch.inference_mode():
        expected = classifier.model(input_ids=ids, attention_mask=mask).logits.numpy()
    assert got.shape == expected.shape == (rows, 2)
    assert np.allclose(got, expected, atol=1e-4)


def test_int8_classifier_agrees_with_fp32(varied_dir):
    fp32 = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="fp32")
    int8 = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="int8")
    assert int8.precision_name == "int8 (ONNX Runtime)" and isinstance(int8.scorer, ArrayScorer)
    assert int8.runtime.autocast is None and int8.runtime.int8
    exact, fast = fp32.predict(REVIEWS), int8.predict(REVIEWS)
    assert [len(p.chunks) for p in fast] == [len(p.chunks) for p in exact]
    assert not np.allclose(exact[0].probabilities, exact[1].probabilities, atol=0.05)  # the texts' answers differ
    for a, b in zip(exact, fast):
        assert np.allclose(a.probabilities, b.probabilities, atol=0.1)
        assert a.label == b.label


def test_int8_pads_to_max_length_when_asked(varied_dir):
    int8 = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="int8")
    padded = int8.scorer_with(padding="max_length")
    assert isinstance(padded, ArrayScorer) and padded.pad_to == int8.max_length
    a = int8.predict(REVIEWS[:2])
    b = int8.predict(REVIEWS[:2], padding="max_length")
    for x, y in zip(a, b):
        assert np.allclose(x.probabilities, y.probabilities, atol=0.1)


@pytest.mark.parametrize("num_labels", [1, 3])
def test_int8_serves_regression_and_many_classes(tokenizer, num_labels):
    model = tiny_bert(num_labels=num_labels, init=0.1)
    if num_labels == 1:
        model.config.problem_type = "regression"
    exact = LongTextClassifier(model, tokenizer, device="cpu", precision="fp32").predict(REVIEWS)
    fast = LongTextClassifier(model, tokenizer, device="cpu", precision="int8").predict(REVIEWS)
    for a, b in zip(exact, fast):
        if num_labels == 1:
            assert a.value == pytest.approx(b.value, rel=0.1)
        else:
            assert np.allclose(a.probabilities, b.probabilities, atol=0.1)


def test_int8_is_refused_off_the_cpu_and_in_training():
    with pytest.raises(LongbertError, match="int8 is a CPU path"):
        autocast_dtype(torch.device("cuda"), "int8")
    with pytest.raises(LongbertError, match="int8 is an inference path"):
        TrainConfig(precision="int8").validate()


def test_int8_without_onnxruntime_says_how_to_install(monkeypatch, classifier):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(LongbertError, match=r"pip install 'longbert\[int8\]'"):
        int8_session(classifier.model, classifier.special)


def test_instruction_set_names_torch_dispatch():
    found = cpu_instruction_set()
    assert found.split(" + ")[0] == torch.backends.cpu.get_cpu_capability()


def test_int8_conversion_is_cached_by_weights(monkeypatch, tmp_path, varied_dir, model_dir):
    import longbert.engines.onnx_int8 as quantized

    monkeypatch.setenv("LONGBERT_CACHE", str(tmp_path))
    first = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="int8")
    assert len(list((tmp_path / "int8").glob("*.onnx"))) == 1

    def no_export(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(quantized, "export_int8", no_export)
    again = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="int8")
    assert again.predict(REVIEWS[:2]) == first.predict(REVIEWS[:2])
    with pytest.raises(AssertionError, match="converted again"):  # other weights: another file
        LongTextClassifier.from_pretrained(model_dir, device="cpu", precision="int8")


def test_a_damaged_or_replaced_int8_cache_file_is_rebuilt(monkeypatch, tmp_path, varied_dir, model_dir):
    import longbert.engines.onnx_int8 as quantized

    monkeypatch.setenv("LONGBERT_CACHE", str(tmp_path))
    first = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="int8")
    other = LongTextClassifier.from_pretrained(model_dir, device="cpu", precision="int8")
    ours = quantized.cache_dir() / f"{quantized.model_key(first.model, first.special)}.onnx"
    theirs = quantized.cache_dir() / f"{quantized.model_key(other.model, other.special)}.onnx"
    exports = []
    real = quantized.export_int8
    monkeypatch.setattr(quantized, "export_int8", lambda *a, **k: exports.append(1) or real(*a, **k))
    for damage in (lambda: ours.write_bytes(ours.read_bytes()[:1000]), lambda: ours.write_bytes(theirs.read_bytes())):
        damage()  # truncated, then a valid ONNX file of another model put in its place
        again = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="int8")
        assert again.predict(REVIEWS[:2]) == first.predict(REVIEWS[:2]), "the answers of its own weights"
    assert len(exports) == 2, "rebuilt each time, not trusted"
    LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="int8")
    assert len(exports) == 2, "and the rebuilt file is used again"
