"""Tokenization: offsets map back to the text, long texts tokenize in pieces exactly, markup is blanked in place."""

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longbert.encoding import backend_tokenizer, encode_texts, special_tokens, strip_markup
from longbert.errors import LongbertError

WORDS = st.sampled_from(
    ["the", "film", "was", "un", "believable", "!", "<br />", "<br/>", "😀", "日本語", "naïve", "Über", "a,b", "x" * 30]
)
TEXTS = st.lists(WORDS, max_size=80).map(" ".join)


def normalized(text):
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


@settings(max_examples=50, deadline=None)
@given(TEXTS)
def test_offsets_point_at_each_token_in_the_original_text(tokenizer, text):
    backend = backend_tokenizer(tokenizer)
    (encoded,) = encode_texts(backend, [text])
    tokens = [backend.id_to_token(int(i)) for i in encoded.ids]
    for token, (start, end) in zip(tokens, encoded.offsets):
        if token != "[UNK]":
            assert normalized(text[start:end]) == token.removeprefix("##")


@settings(max_examples=50, deadline=None)
@given(TEXTS, st.integers(31, 80), st.data())
def test_tokenizing_in_pieces_equals_tokenizing_whole(tokenizer, text, piece_chars, data):
    backend = backend_tokenizer(tokenizer)
    (whole,) = encode_texts(backend, [text])
    (pieces,) = encode_texts(backend, [text], piece_chars=piece_chars)
    assert whole.ids.tolist() == pieces.ids.tolist()
    assert whole.offsets.tolist() == pieces.offsets.tolist()
    if len(whole):
        start = data.draw(st.integers(0, len(whole) - 1))
        end = data.draw(st.integers(start + 1, len(whole)))
        expected = (whole.offsets[start, 0], whole.offsets[end - 1, 1])
        assert whole.span(start, end) == pieces.span(start, end) == expected


def test_without_spans_only_ids_are_kept(tokenizer):
    backend = backend_tokenizer(tokenizer)
    (with_spans,), (ids_only,) = (
        encode_texts(backend, ["a fine film"]),
        encode_texts(backend, ["a fine film"], spans=False),
    )
    assert ids_only.ids.tolist() == with_spans.ids.tolist()
    assert with_spans.span(1, 3) == (2, 11)
    with pytest.raises(LongbertError, match="without spans"):
        ids_only.span(0, 1)


def test_markup_is_blanked_without_moving_offsets(tokenizer):
    text = "Great.<br /><br />Loved it <i>truly</i>."
    assert strip_markup(text) == "Great.            Loved it    truly    ."
    backend = backend_tokenizer(tokenizer)
    raw, clean = encode_texts(backend, [text]), encode_texts(backend, [text], clean_markup=True)
    tokens = [backend.id_to_token(int(i)) for i in clean[0].ids]
    assert tokens == ["great", ".", "loved", "it", "truly", "."]
    assert len(raw[0]) > len(clean[0])
    start, end = clean[0].offsets[4]
    assert text[start:end] == "truly"


def test_a_comparison_is_not_mistaken_for_markup():
    assert strip_markup("if a < b and c > d") == "if a < b and c > d"
    assert strip_markup("3 <4 and <br> 5") == "3 <4 and      5"


def test_fixture_tokenizer_truncation_is_switched_off(tokenizer):
    # tokenizer.json of all-MiniLM-L6-v2 truncates to 128 tokens; longbert must see every token.
    backend = backend_tokenizer(tokenizer)
    (encoded,) = encode_texts(backend, ["word " * 1000])
    assert len(encoded) == 1000


def test_special_tokens_come_from_the_tokenizer(tokenizer):
    special = special_tokens(backend_tokenizer(tokenizer), tokenizer.pad_token_id)
    assert special.prefix == (tokenizer.cls_token_id,)
    assert special.suffix == (tokenizer.sep_token_id,)
    assert special.pad_id == tokenizer.pad_token_id
