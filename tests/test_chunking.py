"""Chunking and truncation windows: properties over all parameters, and the rules that differ from BELT."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from longbert import Chunking, LongbertError, Sentences, Truncation, parse_strategy
from longbert.chunking import cost, smallest_stride
from longbert.encoding import Encoded


@st.composite
def chunkings(draw):
    chunk_size = draw(st.integers(1, 64))
    stride = draw(st.integers(1, chunk_size))
    minimal = draw(st.integers(1, chunk_size))
    return Chunking(chunk_size, stride, minimal)


def ranges(chunking, n):
    windows = chunking.windows(n)
    assert all(len(w) == 1 for w in windows)
    return [w[0] for w in windows]


@given(chunkings(), st.integers(0, 600))
def test_chunks_follow_the_method(chunking, n):
    chunks = ranges(chunking, n)
    if n == 0:
        assert chunks == []
        return
    starts = [s for s, _ in chunks]
    assert starts == [i * chunking.stride for i in range(len(chunks))]
    for start, end in chunks[:-1]:
        assert end - start == chunking.chunk_size
    last_start, last_end = chunks[-1]
    assert 0 < last_end - last_start <= chunking.chunk_size
    assert last_end <= n
    for (_s0, e0), (s1, e1) in itertools.pairwise(chunks):
        assert e1 > e0, "no chunk may lie wholly inside the one before it"
        if e1 - s1 == chunking.chunk_size:
            assert e0 - s1 == chunking.chunk_size - chunking.stride, "overlap = chunk_size - stride"


@given(chunkings(), st.integers(1, 600))
def test_minimal_chunk_size_drops_only_a_short_last_chunk(chunking, n):
    full = ranges(Chunking(chunking.chunk_size, chunking.stride, 1), n)
    kept = ranges(chunking, n)
    last_len = full[-1][1] - full[-1][0]
    if len(full) > 1 and last_len < chunking.minimal_chunk_size:
        assert kept == full[:-1]
    else:
        assert kept == full
    assert len(kept) >= 1, "a text with tokens always keeps at least one chunk"


@given(chunkings(), st.integers(1, 600))
def test_every_token_is_covered_when_no_chunk_is_dropped(chunking, n):
    full = Chunking(chunking.chunk_size, chunking.stride, 1)
    covered = set()
    for start, end in ranges(full, n):
        covered.update(range(start, end))
    assert covered == set(range(n))
    assert len(ranges(full, n)) == max(1, math.ceil(max(n - chunking.chunk_size, 0) / chunking.stride) + 1)


@given(chunkings(), st.integers(0, 600), st.integers(1, 4000), st.integers(0, 3))
def test_smallest_stride_is_the_first_that_fits(chunking, n, max_tokens, special):
    def tokens(stride: int) -> int:
        windows = Chunking(chunking.chunk_size, stride, chunking.minimal_chunk_size).windows(n)
        return sum(end - start + special for ((start, end),) in windows)

    stride = smallest_stride(chunking, n, max_tokens, special)
    smaller = range(chunking.stride, stride if stride is not None else chunking.chunk_size + 1)
    assert all(tokens(s) > max_tokens for s in smaller)
    if stride is not None:
        assert chunking.stride <= stride <= chunking.chunk_size
        assert tokens(stride) <= max_tokens


def test_smallest_stride_for_a_long_review():
    assert cost(Chunking(510, 16, 1), 2811, 2) == 144 * 512 + 509, "144 chunks of 510 tokens and one of 507"
    assert smallest_stride(Chunking(510, 1, 1), 2811, 256 * 512, 2) == 10
    assert smallest_stride(Chunking(510, 255, 1), 2811, 256 * 512, 2) == 255
    assert smallest_stride(Chunking(16, 1, 1), 43_000, 512 * 18, 2) is None


@pytest.mark.parametrize("n", [3061, 3300, 3570])
def test_seven_chunks_for_long_review(n):
    assert len(Chunking(510, 510, 1).windows(n)) == 7


def test_no_redundant_tail_chunk_unlike_belt():
    # BELT also emits (765, 1000), a chunk wholly inside (510, 1000), which double-weights the end.
    assert ranges(Chunking(510, 255, 1), 1000) == [(0, 510), (255, 765), (510, 1000)]


def test_minimal_chunk_size_keeps_a_lone_short_chunk():
    assert ranges(Chunking(510, 510, 100), 30) == [(0, 30)]
    assert ranges(Chunking(510, 510, 100), 540) == [(0, 510)]
    assert ranges(Chunking(510, 510, 30), 540) == [(0, 510), (510, 540)]


def test_truncation_windows():
    assert Truncation(128, 382).windows(1000) == [((0, 128), (618, 1000))]
    assert Truncation(128, 382).windows(400) == [((0, 400),)]
    assert Truncation(510, 0).windows(1000) == [((0, 510),)]
    assert Truncation(0, 510).windows(1000) == [((490, 1000),)]
    assert Truncation(510, 0).windows(0) == []


@given(st.integers(0, 300), st.integers(0, 300), st.integers(1, 2000))
def test_truncation_keeps_head_and_tail(head, tail, n):
    if head + tail == 0:
        return
    (window,) = Truncation(head, tail).windows(n)
    kept = [i for s, e in window for i in range(s, e)]
    if n <= head + tail:
        assert kept == list(range(n))
    else:
        assert kept == list(range(head)) + list(range(n - tail, n))


@pytest.mark.parametrize("kind", [Chunking, Sentences])
@pytest.mark.parametrize(
    "values, message",
    [
        ((100, 200, 1), "stride (200) must not exceed chunk_size (100)"),
        ((0, 0, 1), "chunk_size must be a positive integer"),
        ((100, -1, 1), "stride must be a positive integer"),
        ((100, 100, 0), "minimal_chunk_size must be a positive integer"),
        ((100, 100, 101), "minimal_chunk_size (101) must not exceed chunk_size (100)"),
    ],
)
def test_invalid_chunking_is_rejected_when_made(kind, values, message):
    with pytest.raises(LongbertError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kind(*values)


def test_chunk_size_above_the_model_limit_is_rejected():
    with pytest.raises(LongbertError, match="exceeds what the model allows"):
        Chunking(511, 511, 1).validate(510)
    with pytest.raises(LongbertError, match="more than the model allows"):
        Truncation(400, 400).validate(510)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("head", Truncation(510, 0)),
        ("tail", Truncation(0, 510)),
        ("head+tail", Truncation(128, 382)),
        ("head 256", Truncation(256, 0)),
        ("tail:64", Truncation(0, 64)),
        ("head+tail 100+200", Truncation(100, 200)),
        ("510/255/1", Chunking(510, 255, 1)),
        ("chunk 256/128/32", Chunking(256, 128, 32)),
    ],
)
def test_parse_strategy(spec, expected):
    assert parse_strategy(spec) == expected


@pytest.mark.parametrize("spec", ["middle", "510/600/1", "0/0/0", ""])
def test_parse_strategy_rejects_bad_specs(spec):
    with pytest.raises(LongbertError):
        parse_strategy(spec)


@pytest.mark.parametrize(
    "spec, expected",
    [("sentences", Sentences(510, 510, 1)), ("sentences 256/128/32", Sentences(256, 128, 32))],
)
def test_parse_sentence_strategy(spec, expected):
    assert parse_strategy(spec) == expected


@given(st.sampled_from([Chunking(64, 32, 8), Sentences(64, 32, 8), Truncation(10, 20), parse_strategy("head")]))
def test_every_strategy_name_parses_back_to_it(strategy):
    assert parse_strategy(strategy.name) == strategy


@st.composite
def sentence_texts(draw):
    """A token count and sorted sentence starts inside it, as encode_texts gives them."""
    n = draw(st.integers(1, 400))
    starts = draw(st.sets(st.integers(1, max(n - 1, 1)), max_size=60)) if n > 1 else set()
    return Encoded(np.zeros(n, np.int32), sentence_starts=np.array(sorted(starts), np.int32))


@given(chunkings(), sentence_texts())
def test_sentence_chunks_end_at_sentence_boundaries_and_overlap_by_whole_sentences(chunking, text):
    strategy = Sentences(chunking.chunk_size, chunking.stride, 1)
    n, bounds = len(text), set(text.sentence_starts.tolist())
    chunks = [w[0] for w in strategy.windows(text)]
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    covered, previous_end = set(), 0
    for index, (start, end) in enumerate(chunks):
        covered.update(range(start, end))
        assert 0 < end - start <= strategy.chunk_size
        inside = [b for b in bounds if max(start, previous_end) < b <= start + strategy.chunk_size]
        previous_end = end
        if end < n and inside:
            assert end == max(inside), "a chunk ends at its last sentence boundary that fits"
        elif end < n:
            assert end - start == strategy.chunk_size, "a sentence longer than a chunk is cut where it must be"
        if index:
            before_start, before_end = chunks[index - 1]
            assert start > before_start and end > before_end
            assert start in bounds or start == before_end, "chunks start at a sentence start"
            assert before_end - start <= strategy.chunk_size - strategy.stride, "overlap at most chunk_size - stride"
    assert covered == set(range(n))


@given(chunkings(), st.integers(1, 400))
def test_sentence_chunks_equal_fixed_windows_when_every_token_starts_a_sentence(chunking, n):
    text = Encoded(np.zeros(n, np.int32), sentence_starts=np.arange(1, n, dtype=np.int32))
    sentences = Sentences(chunking.chunk_size, chunking.stride, chunking.minimal_chunk_size)
    assert sentences.windows(text) == chunking.windows(n)


def test_sentence_chunking_of_a_short_text_needs_no_sentences():
    assert Sentences(100, 100, 1).windows(Encoded(np.zeros(40, np.int32))) == [((0, 40),)]
    with pytest.raises(LongbertError, match="sentence starts"):
        Sentences(10, 10, 1).windows(Encoded(np.zeros(40, np.int32)))
