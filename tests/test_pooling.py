"""Pooling against hand-computed values, for any number of classes, and differentiable for training."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from longbert import POOLINGS, LongbertError, pool


def binary_logits(positive):
    p = torch.tensor(positive, dtype=torch.float64)
    return torch.stack([torch.log1p(-p), torch.log(p)], -1)


P = [0.2, 0.9, 0.6]


@pytest.mark.parametrize(
    "method, expected",
    [
        ("mean", (0.2 + 0.9 + 0.6) / 3),
        ("max", 0.9),
        ("median", 0.6),
        ("weighted_mean", (0.2 * 10 + 0.9 * 10 + 0.6 * 20) / 40),
        (
            "logit_mean",
            1 / (1 + math.exp(-sum(math.log(p / (1 - p)) for p in P) / 3)),
        ),
    ],
)
def test_binary_pooling_by_hand(method, expected):
    pooled = pool(binary_logits(P), [3], method, torch.tensor([10.0, 10.0, 20.0]))
    assert pooled.shape == (1, 2)
    assert pooled[0, 1].item() == pytest.approx(expected, abs=1e-6)
    assert pooled[0, 0].item() == pytest.approx(1 - expected, abs=1e-6)


def test_median_of_an_even_count_averages_the_middle_two():
    pooled = pool(binary_logits([0.2, 0.9, 0.6, 0.4]), [4], "median")
    assert pooled[0, 1].item() == pytest.approx(0.5, abs=1e-6)


def test_max_for_three_classes_renormalizes_each_class_max():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    pooled = pool(probs.log(), [2], "max")
    expected = torch.tensor([0.7, 0.3, 0.6]) / 1.6
    assert torch.allclose(pooled[0], expected, atol=1e-6)


def test_texts_pool_independently():
    logits = binary_logits([0.2, 0.9, 0.6, 0.3, 0.8])
    together = pool(logits, [3, 2], "mean")
    assert together[0, 1].item() == pytest.approx((0.2 + 0.9 + 0.6) / 3, abs=1e-6)
    assert together[1, 1].item() == pytest.approx((0.3 + 0.8) / 2, abs=1e-6)


@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=5),
    st.integers(2, 5),
    st.sampled_from(POOLINGS),
    st.integers(0, 10_000),
)
def test_pooled_probabilities_sum_to_one_and_match_one_text_at_a_time(counts, classes, method, seed):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(sum(counts), classes, generator=generator) * 3
    lengths = torch.randint(1, 510, (sum(counts),), generator=generator).float()
    together = pool(logits, counts, method, lengths)
    assert torch.allclose(together.sum(-1), torch.ones(len(counts)), atol=1e-6)
    assert (together >= 0).all()
    first = 0
    for row, count in enumerate(counts):
        alone = pool(logits[first : first + count], [count], method, lengths[first : first + count])
        assert torch.allclose(together[row], alone[0], atol=1e-6)
        first += count


@pytest.mark.parametrize("method", POOLINGS)
def test_single_chunk_pools_to_its_own_probabilities(method):
    logits = torch.tensor([[0.3, -1.2, 2.0]])
    assert torch.allclose(pool(logits, [1], method, torch.tensor([5.0])), logits.softmax(-1), atol=1e-6)


@pytest.mark.parametrize("method", POOLINGS)
def test_pooling_is_differentiable(method):
    logits = torch.randn(5, 2, requires_grad=True)
    pool(logits, [2, 3], method, torch.tensor([3.0, 4.0, 5.0, 6.0, 7.0]))[:, 1].sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_bad_pooling_arguments():
    with pytest.raises(LongbertError, match="unknown pooling 'sum'"):
        pool(torch.zeros(2, 2), [2], "sum")
    with pytest.raises(LongbertError, match="at least one chunk"):
        pool(torch.zeros(2, 2), [2, 0], "mean")
    with pytest.raises(LongbertError, match="needs the chunk lengths"):
        pool(torch.zeros(2, 2), [2], "weighted_mean")


def test_every_pooling_says_what_it_does_to_a_two_class_answer():
    from longbert.pooling import POOLINGS, TWO_CLASS_POOLING

    assert set(TWO_CLASS_POOLING) == set(POOLINGS)
    assert all(note.startswith(f"{name}: ") for name, note in TWO_CLASS_POOLING.items())
