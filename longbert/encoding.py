"""Tokenize whole texts into content token ids that map back to character spans, with the model's own tokenizer.

(Named encoding, not tokenize, so that it never shadows Python's own tokenize module.)

Works on the Rust `tokenizers` backend of any fast Hugging Face tokenizer: no truncation, no
padding, no special tokens (those are added per chunk, as the tokenizer itself would add them).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Encoding, Tokenizer

from longbert.errors import LongbertError

# Texts longer than this are tokenized in pieces cut at whitespace, which bounds the tokenizer's
# transient working memory for texts of millions of tokens.
PIECE_CHARS = 200_000
MARKUP = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]{0,200})?/?>")


@dataclass(frozen=True, eq=False)
class Encoded:
    """One text's content token ids [n]; with its tokenizer encodings kept, token ranges map back to characters.

    Spans are looked up in the encodings at chunk boundaries only: converting every token's offsets
    to Python costs more than a fifth of the tokenization time.
    """

    ids: np.ndarray
    pieces: tuple[tuple[int, int, Encoding], ...] | None = None  # (first token, first character, encoding)
    sentence_starts: np.ndarray | None = None  # token indices where a sentence starts, when asked for

    def __len__(self) -> int:
        return len(self.ids)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The characters of the original text that tokens [start, end) cover."""
        return self._char(start, 0), self._char(end - 1, 1)

    @property
    def offsets(self) -> np.ndarray:
        """Character offsets [n, 2] of every token (span() is far cheaper when only chunk edges matter)."""
        return _offsets(self._pieces())

    def _pieces(self) -> tuple[tuple[int, int, Encoding], ...]:
        if self.pieces is None:
            raise LongbertError("this text was encoded without spans (spans=False)")
        return self.pieces

    def _char(self, token: int, side: int) -> int:
        pieces = self._pieces()
        first, shift, encoding = pieces[bisect.bisect_right([p[0] for p in pieces], token) - 1]
        return encoding.token_to_chars(token - first)[side] + shift


def _offsets(pieces) -> np.ndarray:
    """Character offsets [n, 2] of every token of a text's pieces, shifted to the whole text."""
    if not pieces:
        return np.zeros((0, 2), np.int64)
    return np.concatenate([np.asarray(e.offsets, np.int64).reshape(-1, 2) + shift for _, shift, e in pieces])


@dataclass(frozen=True)
class SpecialTokens:
    """The ids a tokenizer puts before and after a single sequence, and its padding id."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    pad_id: int

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.suffix)


def backend_tokenizer(tokenizer) -> Tokenizer:
    """A private copy of a fast tokenizer's Rust backend with truncation and padding switched off."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        raise LongbertError(
            f"the tokenizer {type(tokenizer).__name__} has no fast (Rust) backend; longbert needs a fast tokenizer"
        )
    backend = Tokenizer.from_str(backend.to_str())
    backend.no_truncation()
    backend.no_padding()
    return backend


def special_tokens(backend: Tokenizer, pad_id: int | None) -> SpecialTokens:
    """Find the special tokens the tokenizer adds around one sequence, by encoding a probe with and without them."""
    probe = "hello world"
    content = backend.encode(probe, add_special_tokens=False).ids
    full = backend.encode(probe, add_special_tokens=True).ids
    for start in range(len(full) - len(content) + 1):
        if full[start : start + len(content)] == content:
            prefix, suffix = full[:start], full[start + len(content) :]
            break
    else:
        raise LongbertError("cannot tell where the tokenizer puts its special tokens")
    if pad_id is None:
        raise LongbertError("the tokenizer has no padding token; set tokenizer.pad_token before use")
    return SpecialTokens(tuple(prefix), tuple(suffix), int(pad_id))


def check_text(text: object, where: str) -> str:
    """The text, if it is a string of valid Unicode; else one LongbertError line saying where it came from.

    A lone surrogate (JSON's "\\ud800", or a str built from bytes with errors="surrogateescape") is not
    text any tokenizer can take: refused here, before any work, rather than failing in the middle of a run."""
    if not isinstance(text, str):
        raise LongbertError(f"{where} is {type(text).__name__}, not a string")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise LongbertError(
                f"{where} holds a lone surrogate (U+{ord(text[error.start]):04X} at character {error.start}), "
                "which is not valid Unicode text"
            ) from None
    return text


def strip_markup(text: str) -> str:
    """Blank out HTML tags such as IMDB's `<br />` with spaces of the same length, so offsets stay valid."""
    return MARKUP.sub(lambda m: " " * len(m.group(0)), text)


def _cut_points(text: str, piece_chars: int) -> list[int]:
    """Where to cut a long text: before the last whitespace of a run that precedes a word, so that
    whitespace-splitting tokenizers (WordPiece, byte-level BPE, SentencePiece) see the same words.
    A piece with no whitespace at all (a single 200,000-character word) is cut where it must be."""
    cuts = [0]
    while len(text) - cuts[-1] > piece_chars:
        lo, hi = cuts[-1] + 1, cuts[-1] + piece_chars
        cut = hi
        for i in range(hi - 1, lo - 1, -1):
            if text[i].isspace() and not text[i + 1].isspace():
                cut = i
                break
        cuts.append(cut)
    cuts.append(len(text))
    return cuts


def sentence_char_starts(text: str) -> list[int]:
    """Character offsets where the sentences of a text start, from blingfire (the optional `sentences` extra)."""
    try:
        import blingfire
    except ImportError as error:
        raise LongbertError(
            "sentence-aware chunking and --explain need blingfire: pip install 'longbert[sentences]'"
        ) from error
    return [start for start, _ in blingfire.text_to_sentences_and_offsets(text)[1]]


def _sentence_token_starts(text: str, pieces: list[tuple[int, int, Encoding]]) -> np.ndarray:
    """Token indices of sentence starts: each sentence's first character mapped to the first token at or after it."""
    token_chars = _offsets(pieces)[:, 0]
    starts = np.searchsorted(token_chars, sentence_char_starts(text), side="left")
    return np.unique(starts[(starts > 0) & (starts < len(token_chars))]).astype(np.int32)


def encode_texts(
    backend: Tokenizer,
    texts: Sequence[str],
    *,
    clean_markup: bool = False,
    spans: bool = True,
    sentences_over: int | None = None,
    piece_chars: int = PIECE_CHARS,
) -> list[Encoded]:
    """Tokenize texts without special tokens. With spans, each result keeps its tokenizer encodings (about
    100 bytes a token) so token ranges map back to the original text; without, only the ids are kept.
    sentences_over: find the sentence starts of every text longer than this many tokens (shorter ones fit
    one chunk and need none)."""
    pieces: list[str] = []
    owners: list[tuple[int, int]] = []
    cleaned: list[str] = []
    for index, text in enumerate(texts):
        check_text(text, f"text {index}")
        if clean_markup:
            text = strip_markup(text)
        cleaned.append(text)
        cuts = _cut_points(text, piece_chars)
        for start, end in itertools.pairwise(cuts):
            pieces.append(text[start:end])
            owners.append((index, start))
    encodings = backend.encode_batch(pieces, add_special_tokens=False) if pieces else []
    kept: list[list[tuple[int, int, Encoding]]] = [[] for _ in texts]
    sizes = [0] * len(texts)
    for (index, shift), encoding in zip(owners, encodings):
        kept[index].append((sizes[index], shift, encoding))
        sizes[index] += len(encoding.ids)
    results = []
    for text, own, size in zip(cleaned, kept, sizes):
        ids = np.concatenate([np.asarray(e.ids, np.int32) for _, _, e in own]) if own else np.zeros(0, np.int32)
        starts = _sentence_token_starts(text, own) if sentences_over is not None and size > sentences_over else None
        results.append(Encoded(ids, tuple(own) if spans else None, starts))
    return results
