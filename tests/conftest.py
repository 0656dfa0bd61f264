"""Shared fixtures: a real tokenizer from the committed fixture and tiny random-weight BERT classifiers."""

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("LONGBERT_CACHE", tempfile.mkdtemp(prefix="longbert-test-cache-"))  # int8 conversions
# auto on a CPU with native bf16 loads into OpenVINO where it is installed; most tests look inside torch's scoring
# (a slowed forward, a counted batch), so they run auto's torch path, and tests/test_openvino.py runs OpenVINO and
# auto's choice of it. LONGBERT_CPU_ENGINE=auto make test runs every test on the default a user gets.
os.environ.setdefault("LONGBERT_CPU_ENGINE", "torch")

from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"
TOKENIZER_DIR = FIXTURES / "minilm-tokenizer"


def tiny_bert(num_labels: int = 2, seed: int = 0, hidden: int = 32, init: float = 0.02):
    """A 2-layer BERT classifier with random weights: milliseconds per forward pass.

    init is the weights' standard deviation: at BERT's 0.02 every text gets nearly the same answer; at
    0.5 answers vary from text to text (and settings disagree), as a trained model's do."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=512,
        num_labels=num_labels,
        id2label={i: ("NEGATIVE", "POSITIVE")[i] if num_labels == 2 else f"CLASS_{i}" for i in range(num_labels)},
        label2id={("NEGATIVE", "POSITIVE")[i] if num_labels == 2 else f"CLASS_{i}": i for i in range(num_labels)},
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=init,
    )
    return BertForSequenceClassification(config).eval()


def save_tiny_model(directory: Path, num_labels: int = 2, seed: int = 0, init: float = 0.02) -> Path:
    """Save a tiny BERT classifier with the fixture tokenizer, as a user's model directory would look."""
    from transformers import AutoTokenizer

    tiny_bert(num_labels, seed, init=init).save_pretrained(directory)
    AutoTokenizer.from_pretrained(TOKENIZER_DIR).save_pretrained(directory)
    return directory


def save_tiny_encoder(directory: Path) -> Path:
    """A base checkpoint without a classification head (what fine-tuning starts from), with the fixture tokenizer."""
    from transformers import AutoTokenizer

    tiny_bert().bert.save_pretrained(directory)
    AutoTokenizer.from_pretrained(TOKENIZER_DIR).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def classifier(model_dir):
    from longbert import LongTextClassifier

    return LongTextClassifier.from_pretrained(model_dir, device="cpu", precision="fp32")


@pytest.fixture()
def chromium():
    """Debian's chromium under Playwright (skipped where it is not installed: .ci/run installs it)."""
    from bench.browser import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def settled(page, timeout: float = 30) -> None:
    """Wait until no request is pending on the page's queue and what it answered is drawn."""
    page.wait_for_timeout(600)
    page.wait_for_function("!document.querySelector('.progress-text, .eta-bar')", timeout=timeout * 1000)
    page.wait_for_timeout(300)
