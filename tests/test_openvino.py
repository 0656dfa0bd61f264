"""The OpenVINO CPU path: answers equal to torch's for every task type (to fp32 rounding, or bf16's where the CPU
computes in bf16), a conversion cached by the weights and rebuilt when damaged, and clear errors where it does
not apply."""

import concurrent.futures
import sys

import numpy as np
import pytest
import torch
from conftest import save_tiny_model

from longbert import LongTextClassifier
from longbert.engines import openvino as openvino_engine
from longbert.errors import LongbertError
from longbert.runtime import autocast_dtype
from longbert.scoring import ArrayScorer
from longbert.training import TrainConfig

REVIEWS = [
    "A wonderful, moving film with a superb cast. " * 40,
    "Dull and far too long; the plot made no sense at all. " * 25,
    "Not bad.",
    "I expected more, but the ending was worth it. " * 90,
]
# How far OpenVINO's probabilities may be from torch fp32's: fp32 rounding, or bf16's on CPUs that compute in bf16.
TOLERANCE = 0.05 if openvino_engine.precision() == "bf16" else 1e-4


@pytest.fixture(scope="module")
def varied_dir(tmp_path_factory):
    """A tiny model whose answers vary from text to text (init 0.5), so rounding could flip them."""
    return save_tiny_model(tmp_path_factory.mktemp("varied"), init=0.5)


@pytest.mark.slow
@pytest.mark.parametrize("num_labels", [1, 2, 5])
def test_openvino_answers_equal_torch_fp32_for_every_output_shape(tmp_path, num_labels):
    directory = save_tiny_model(tmp_path / f"m{num_labels}", num_labels=num_labels, init=0.5)
    exact = LongTextClassifier.from_pretrained(directory, device="cpu", precision="fp32").predict(REVIEWS)
    fast_classifier = LongTextClassifier.from_pretrained(directory, device="cpu", precision="openvino")
    assert isinstance(fast_classifier.scorer, ArrayScorer) and fast_classifier.runtime.engine == "openvino"
    assert fast_classifier.precision_name.endswith("(OpenVINO)")
    fast = fast_classifier.predict(REVIEWS)
    assert [len(p.chunks) for p in fast] == [len(p.chunks) for p in exact]
    for a, b in zip(exact, fast):
        if a.probabilities is None:  # regression
            assert b.value == pytest.approx(a.value, abs=TOLERANCE * 10)
        else:
            assert np.allclose(a.probabilities, b.probabilities, atol=TOLERANCE)


def test_openvino_serves_threads_at_once_with_the_same_answers(varied_dir):
    classifier = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="openvino")
    alone = classifier.predict(REVIEWS)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda _: classifier.predict(REVIEWS), range(4)))
    assert all(answers == alone for answers in together)


@pytest.mark.slow
def test_openvino_conversion_is_cached_by_weights_and_rebuilt_when_damaged(monkeypatch, tmp_path, varied_dir,
                                                                           model_dir):  # fmt: skip
    monkeypatch.setenv("LONGBERT_CACHE", str(tmp_path))
    first = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="openvino")
    (graph,) = (tmp_path / "openvino").glob("*.xml")
    exports = []
    real = openvino_engine.export_onnx
    monkeypatch.setattr(openvino_engine, "export_onnx", lambda *a, **k: exports.append(1) or real(*a, **k))
    again = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="openvino")
    assert again.predict(REVIEWS[:2]) == first.predict(REVIEWS[:2]) and exports == [], "loaded, not converted"
    weights = graph.with_suffix(".bin")
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    rebuilt = LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="openvino")
    assert rebuilt.predict(REVIEWS[:2]) == first.predict(REVIEWS[:2]) and exports == [1], "rebuilt, not trusted"
    LongTextClassifier.from_pretrained(model_dir, device="cpu", precision="openvino")
    assert exports == [1, 1], "other weights: another conversion"


def test_openvino_is_refused_off_the_cpu_and_in_training_and_says_how_to_install(monkeypatch, varied_dir):
    with pytest.raises(LongbertError, match="openvino is a CPU path"):
        autocast_dtype(torch.device("cuda"), "openvino")
    with pytest.raises(LongbertError, match="openvino is an inference path"):
        TrainConfig(precision="openvino").validate()
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert not openvino_engine.available()
    with pytest.raises(LongbertError, match=r"pip install 'longbert\[openvino\]'"):
        LongTextClassifier.from_pretrained(varied_dir, device="cpu", precision="openvino")


def test_auto_loads_into_openvino_on_a_bf16_cpu_unless_told_or_not_installed(monkeypatch, varied_dir):
    import longbert.runtime as runtime
    from longbert.runtime import loading_precision

    monkeypatch.setenv("LONGBERT_CPU_ENGINE", "auto")
    cpu = torch.device("cpu")
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert loading_precision("auto", cpu) == "auto", "without native bf16 OpenVINO measured no faster: torch"
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert loading_precision("auto", cpu) == "openvino"
    assert LongTextClassifier.from_pretrained(varied_dir, device="cpu").runtime.engine == "openvino"
    assert loading_precision("fp32", cpu) == "fp32" and loading_precision("auto", torch.device("cuda")) == "auto"
    monkeypatch.setenv("LONGBERT_CPU_ENGINE", "torch")
    assert loading_precision("auto", cpu) == "auto"
    monkeypatch.setenv("LONGBERT_CPU_ENGINE", "auto")
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert loading_precision("auto", cpu) == "auto", "without OpenVINO, auto stays in torch"
    assert LongTextClassifier.from_pretrained(varied_dir, device="cpu").runtime.engine == "torch"


def test_threads_share_a_bounded_set_of_inference_requests():
    import threading
    import time

    made, busy, most = [], [], [0]
    lock = threading.Lock()

    class Request:
        def infer(self, inputs):
            with lock:
                busy.append(1)
                most[0] = max(most[0], len(busy))
            time.sleep(0.01)
            with lock:
                busy.pop()
            self.out = inputs["input_ids"].astype(np.float32)

        def get_output_tensor(self, index):
            return type("Tensor", (), {"data": self.out})()

    class Compiled:
        def create_infer_request(self):
            made.append(1)
            return Request()

    run = openvino_engine.openvino_runner(Compiled())
    ids = np.ones((2, 3), np.int64)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        outputs = list(pool.map(lambda _: run(ids, ids), range(64)))
    assert len(made) == openvino_engine.REQUESTS == most[0], "a request per thread grew the server round after round"
    assert all(np.array_equal(o, ids) for o in outputs)


def test_the_compiled_model_keeps_a_bounded_number_of_shapes(monkeypatch):
    seen = {}

    class Core:
        def compile_model(self, model, device, config):
            seen.update(config)

    monkeypatch.setattr(openvino_engine.openvino_module(), "Core", Core)
    openvino_engine.compile_for_cpu(object(), "f32")
    assert seen["CPU_RUNTIME_CACHE_CAPACITY"] == str(openvino_engine.SHAPE_CACHE)
