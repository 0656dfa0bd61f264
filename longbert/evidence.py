"""The evidence stage: each sentence's effect on a text's pooled answer, measured by taking the sentence out.

A sentence's effect is the pooled answer with the text whole minus the pooled answer without the sentence:
positive where the sentence pushes the answer up. The text's chunk windows stay where they are: the sentence's
tokens are taken out of the chunks that hold them, only those chunks are scored again, and every other chunk's
score is reused (re-cutting the text would move every later chunk). A chunk that held nothing else is left out of
the pool. So a sentence in no chunk (the middle under head+tail truncation) has effect 0, and under max pooling a
sentence outside the winning chunk has effect 0 unless taking it out makes its own chunk win. The chunks to
score are known before any scoring (Occlusions), so their cost is counted by the same rule as a prediction's
(longbert.scoring.tokens_scored), and they are scored through the same Scorer, in length-sorted token-budgeted
batches under a Meter. Sentence boundaries are blingfire's, as sentence-aware chunking uses.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from longbert.chunking import Chunks, Strategy, window_ids
from longbert.classifier import text_groups
from longbert.encoding import Encoded
from longbert.errors import LongbertError
from longbert.pooling import ChunkScores, Prediction, check_pooling, pool, predictions
from longbert.scoring import Meter, tokens_scored
from longbert.tasks import Task

POOL_ROWS = 1 << 18  # chunk rows pooled at once when re-pooling texts without each of their sentences


def sentence_ranges(encoded: Encoded) -> list[tuple[int, int]]:
    """Token ranges [start, end) of a text's sentences, in order, covering every token (from its sentence starts)."""
    if encoded.sentence_starts is None and len(encoded):
        raise LongbertError("evidence needs texts encoded with their sentence starts (encode(..., sentences=True))")
    bounds = [0, *(int(s) for s in (encoded.sentence_starts if len(encoded) else ())), len(encoded)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


@dataclass(frozen=True)
class Occlusions:
    """The chunks to score to explain texts: for each sentence, its text's chunks that hold some of its tokens, with
    those tokens taken out. changes[t][j] lists (chunk of text t, row of chunks or -1 where nothing is left)."""

    chunks: Chunks
    sentences: list[list[tuple[int, int]]]
    changes: list[list[list[tuple[int, int]]]]

    def cost(self, special) -> int:
        """Tokens that scoring them costs, counted as a prediction's are (longbert.scoring.tokens_scored)."""
        return tokens_scored(self.chunks, special)


def occlusions(encoded: Sequence[Encoded], chunks: Chunks) -> Occlusions:
    """Every sentence of every text taken out of the chunk windows that hold it (nothing is scored here)."""
    ids: list[np.ndarray] = []
    sentences, changes = [], []
    for enc, windows in zip(encoded, chunks.windows):
        ranges = sentence_ranges(enc)
        starts = [w[0][0] for w in windows]  # windows start in order and end in order (every strategy's do)
        text_changes = []
        for a, b in ranges:
            changed = []
            for k in range(bisect.bisect_left(starts, b) - 1, -1, -1):
                if windows[k][-1][1] <= a:
                    break
                kept = _without(windows[k], a, b)
                if kept != windows[k]:
                    changed.append((k, len(ids) if kept else -1))
                    if kept:
                        ids.append(window_ids(enc, kept))
            text_changes.append(changed[::-1])
        sentences.append(ranges)
        changes.append(text_changes)
    return Occlusions(Chunks(ids, [len(ids)], [[]]), sentences, changes)


def _without(window, a: int, b: int) -> tuple[tuple[int, int], ...]:
    """A window's token ranges with tokens [a, b) taken out (empty ranges dropped)."""
    kept = []
    for s, e in window:
        kept += [(s, min(e, a)), (max(s, b), e)] if s < b and a < e else [(s, e)]
    return tuple((s, e) for s, e in kept if e > s)


def effects(full: ChunkScores, occluded: torch.Tensor, plan: Occlusions, task: Task, pooling: str) -> list[np.ndarray]:
    """Each text's sentence effects [n_sentences, n_outputs]: its pooled outputs whole minus without the sentence.

    The text without a sentence is pooled from its chunks' scores with the changed chunks' new scores in their
    place (a chunk left empty is left out; a text left with no chunk gets the task's answer for no tokens)."""
    pooling = check_pooling(pooling)
    n_full = len(full.logits)
    source = torch.cat([full.logits.float(), occluded.float()])
    lengths = torch.from_numpy(np.concatenate([full.chunks.lengths, plan.chunks.lengths])).float()
    whole = full.pooled(pooling, task)
    first = np.concatenate([[0], np.cumsum(full.chunks.counts)]).astype(int)
    out = [np.zeros((len(c), source.shape[1])) for c in plan.changes]
    todo = [(t, j) for t, text in enumerate(plan.changes) for j, changed in enumerate(text) if changed]
    while todo:
        group, index, counts, rows = [], [], [], 0
        while todo and (not group or rows < POOL_ROWS):
            t, j = todo.pop()
            new = dict(plan.changes[t][j])
            kept = [n_full + new[k] if k in new else first[t] + k
                    for k in range(first[t + 1] - first[t]) if new.get(k) != -1]  # fmt: skip
            group.append((t, j))
            index += kept
            counts.append(len(kept))
            rows += len(kept)
        without = np.full((len(group), source.shape[1]), np.nan)
        some = [i for i, c in enumerate(counts) if c > 0]
        if some:
            pooled = pool(source[index], [counts[i] for i in some], pooling, lengths[index], task.activation)
            without[some] = pooled.double().numpy()
        for (t, j), row in zip(group, task.filled(without)):
            out[t][j] = whole[t] - row
    return out


@dataclass(frozen=True)
class Explanation:
    """A text's prediction and each sentence's character span and effect on it (effects [n_sentences, n_outputs]);
    rescored: how many chunks were scored again to find them."""

    prediction: Prediction
    spans: tuple[tuple[int, int], ...]
    effects: np.ndarray
    rescored: int

    def effect(self, j: int):
        """Sentence j's effect as the task reports it (on the chosen class, per label, or on the value)."""
        return self.prediction.task.effect_record(self.effects[j], self.prediction)

    def headline(self) -> np.ndarray:
        """One number per sentence, what the app shades by: the effect on the task's headline output."""
        return np.array([self.prediction.task.effect_headline(row, self.prediction) for row in self.effects])

    def records(self) -> list[dict]:
        """JSON-ready evidence: {"span": [start, end], "effect": ...} per sentence, in text order."""
        return [{"span": list(span), "effect": self.effect(j)} for j, span in enumerate(self.spans)]

    def to_dict(self) -> dict:
        return self.prediction.to_dict() | {"evidence": self.records()}


def explain(
    classifier,
    texts: Sequence[str] | str,
    strategy: Strategy | None = None,
    pooling: str | None = None,
    *,
    meter: Meter | None = None,
    batch_tokens: int | None = None,
) -> list[Explanation]:
    """Predict texts and explain each answer by its sentences (see the module's docstring): the texts' chunks and
    their occluded chunks are costed first (meter.planned) and scored together in one length-sorted pass."""
    if isinstance(texts, str):
        texts = [texts]
    encoded = classifier.encode(texts, sentences=True)
    chunks = classifier.chunk(encoded, strategy)
    plan = occlusions(encoded, chunks)
    if meter is not None:
        meter.planned += tokens_scored(chunks, classifier.special) + plan.cost(classifier.special)
    scorer = classifier.scorer_with(batch_tokens, meter=meter)
    logits = classifier.score(Chunks.joined([chunks, plan.chunks]), scorer).logits
    full = ChunkScores(chunks, logits[: len(chunks)])
    return explained(classifier, encoded, full, plan, logits[len(chunks) :], pooling)


def explained(
    classifier, encoded: Sequence[Encoded], full: ChunkScores, plan: Occlusions, occluded: torch.Tensor, pooling=None
) -> list[Explanation]:
    """Explanations from scores already computed: the texts' chunks (full) and their occluded chunks (plan's)."""
    pooling = check_pooling(pooling or classifier.settings.pooling)
    found = effects(full, occluded, plan, classifier.task, pooling)
    answers = predictions(full, encoded, classifier.task, pooling)
    result = []
    for enc, ranges, changes, answer, effect in zip(encoded, plan.sentences, plan.changes, answers, found):
        spans = tuple(enc.span(a, b) for a, b in ranges) if enc.pieces is not None else ()
        result.append(Explanation(answer, spans, effect, sum(r >= 0 for c in changes for _, r in c)))
    return result


EXPLAIN_GROUP = 64  # texts explained together: their chunks and occluded chunks share length-sorted batches


def iter_explain(
    classifier,
    texts: Iterable[str],
    strategy: Strategy | None = None,
    pooling: str | None = None,
    *,
    batch_tokens: int | None = None,
    progress: bool = False,
) -> Iterator[Explanation]:
    """Explanations of texts in order, EXPLAIN_GROUP texts at a time (longbert.classifier.text_groups, which checks
    each text), so any number of texts streams through."""
    from tqdm.auto import tqdm

    total = len(texts) if isinstance(texts, Sequence) else None
    with tqdm(total=total, desc="texts", unit="text", disable=not progress) as bar:
        for group in text_groups(texts, EXPLAIN_GROUP):
            yield from explain(classifier, group, strategy, pooling, batch_tokens=batch_tokens)
            bar.update(len(group))
