"""A long-text classifier: any Hugging Face sequence-classification model reading whole texts in chunks.

It is the composition of three public stages: chunk (longbert.chunking.chunk), score (a Scorer from
longbert.scoring) and pool (longbert.pooling). predict() tokenizes each text once, cuts it by a
strategy, scores the chunks of many texts together in length-sorted token-budgeted batches, and pools
each text's chunk outputs as the model's task type says (single-label, multi-label or regression).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import torch
from tqdm.auto import tqdm

from longbert.chunking import Chunking, Chunks, Strategy, chunk
from longbert.encoding import Encoded, backend_tokenizer, check_text, encode_texts, special_tokens
from longbert.engines import engine_named
from longbert.errors import LongbertError
from longbert.loading import load_pretrained, max_sequence_length
from longbert.pooling import ChunkScores, Prediction, check_pooling, predictions
from longbert.runtime import Runtime, loading_precision, resolve_device, runtime_for
from longbert.scoring import ArrayScorer, Meter, ModelScorer, Scorer
from longbert.settings import Settings
from longbert.tasks import Task, task_for

# Texts are processed in groups of at most this many characters or texts, which bounds memory
# for any corpus while leaving each group large enough for length sorting to remove padding.
GROUP_CHARS = 4_000_000
GROUP_TEXTS = 8192
_END = object()
T = TypeVar("T")
U = TypeVar("U")


class LongTextClassifier:
    """A sequence-classification model, its tokenizer and its long-text settings, ready to predict.

    Without settings it chunks at the model's largest size with no overlap (510/510/1 for BERT)
    and pools with the mean. precision: auto (bf16 weights on CUDA, bf16 autocast on CPUs with
    native bf16, else fp32), fp32, bf16, fp16, or a CPU engine of longbert.engines: int8 (ONNX Runtime) or
    openvino; runtime
    overrides the whole policy (longbert.runtime). task: the task type (default: from the model's config and
    settings; a Task of a type defined elsewhere works too).
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        settings: Settings | None = None,
        device: str | torch.device | None = None,
        precision: str = "auto",
        runtime: Runtime | None = None,
        task: Task | None = None,
    ):
        self.runtime = runtime or runtime_for(device, precision, next(model.parameters()).dtype)
        if self.runtime.weight_dtype is not None:
            model = model.to(self.runtime.weight_dtype)
        self.model = model.to(self.runtime.device).eval()
        self.tokenizer = tokenizer
        self.backend = backend_tokenizer(tokenizer)
        self.special = special_tokens(self.backend, tokenizer.pad_token_id)
        self.max_length = max_sequence_length(tokenizer, model.config)
        self.max_chunk_size = self.max_length - self.special.count
        # Without saved settings: the largest chunks the model takes, no overlap, mean pooling.
        self.settings = settings or Settings(Chunking(self.max_chunk_size, self.max_chunk_size, 1))
        self.settings.strategy.validate(self.max_chunk_size)
        self.task = task or task_for(model.config, self.settings.threshold, self.settings.task)
        self.labels = list(self.task.labels)
        self.scorer: ModelScorer | ArrayScorer = ModelScorer(self.model, self.special, self.runtime)
        if self.runtime.engine != "torch":
            self.scorer = ArrayScorer(engine_named(self.runtime.engine).runner(self.model, self.special),
                                      self.special, self.runtime, model.config.num_labels)  # fmt: skip

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path | None = None,
        device: str | torch.device | None = None,
        precision: str = "auto",
        *,
        new_head: bool = False,
        safetensors_only: bool = False,
    ) -> LongTextClassifier:
        """Load from a local directory or a Hub id (default: $LONGBERT_MODEL, else the bundled model), with
        the settings saved beside the model.

        A checkpoint without a trained classification head is refused, unless new_head (a random
        head: for timing, not for answers). safetensors_only: never unpickle weights (a model someone else chose).
        """
        if name_or_path is None:
            from longbert.bundled import default_model

            name_or_path = default_model()
        safe = {"use_safetensors": True} if safetensors_only else {}
        model, tokenizer, settings = load_pretrained(name_or_path, new_head=new_head, **safe)
        precision = loading_precision(precision, resolve_device(device))
        return cls(model, tokenizer, settings=settings, device=device, precision=precision)

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    @property
    def precision_name(self) -> str:
        """What the model computes in, for results files: 'bfloat16 autocast', 'bfloat16 weights', 'int8 (ONNX
        Runtime)', 'bf16 (OpenVINO)' or 'float32'."""
        if self.runtime.engine != "torch":
            return engine_named(self.runtime.engine).describe()
        if self.runtime.autocast is not None:
            return f"{str(self.runtime.autocast).removeprefix('torch.')} autocast"
        weights = next(self.model.parameters()).dtype
        return "float32" if weights == torch.float32 else f"{str(weights).removeprefix('torch.')} weights"

    @property
    def engine(self) -> str:
        """The engine that answers and what it computes in, as JSON lines, parquet parts, results and the app say
        it: 'torch float32', 'torch bfloat16 autocast', 'openvino bf16', 'onnxruntime int8'."""
        if self.runtime.engine != "torch":
            return f"{self.runtime.engine} {engine_named(self.runtime.engine).load().precision()}"
        return f"torch {self.precision_name}"

    def encode(
        self,
        texts: Sequence[str],
        *,
        spans: bool = True,
        strategies: Sequence[Strategy] | None = None,
        sentences: bool = False,
    ) -> list[Encoded]:
        """Content tokens of each text (HTML tags blanked if the settings say so); spans map them to characters.

        Sentence starts are found where one of the strategies (default: the settings') needs them, or in every
        text with sentences (what longbert.evidence needs).
        """
        needing = [s.chunk_size for s in (strategies or [self.settings.strategy]) if s.needs_sentences]
        over = 0 if sentences else min(needing) if needing else None
        return encode_texts(
            self.backend, texts, clean_markup=self.settings.clean_markup, spans=spans, sentences_over=over
        )

    def chunk(self, encoded: Sequence[Encoded], strategy: Strategy | None = None) -> Chunks:
        """The chunk stage: encoded texts cut by a strategy (default: the settings'), checked against the model."""
        return chunk(encoded, strategy or self.settings.strategy, self.max_chunk_size)

    def scorer_with(
        self,
        batch_tokens: int | None = None,
        padding: str = "longest",
        pad_multiple: int | None = None,
        meter: Meter | None = None,
    ) -> Scorer:
        """A model scorer with the runtime's batch budget or pad multiple overridden, padding to max_length, or a
        meter that counts its tokens and stops it between batches."""
        if padding not in ("longest", "max_length"):
            raise LongbertError(f"padding must be 'longest' or 'max_length', got {padding!r}")
        if batch_tokens is None and padding == "longest" and pad_multiple is None and meter is None:
            return self.scorer
        runtime = self.runtime.with_options(batch_tokens, pad_multiple)
        pad_to = self.max_length if padding == "max_length" else None
        return replace(self.scorer, runtime=runtime, pad_to=pad_to, meter=meter)

    def score(self, chunks: Chunks, scorer: Scorer | None = None, *, progress: bool = False) -> ChunkScores:
        """The score stage: every chunk's logits, from the model (or another scorer, such as a cache)."""
        return ChunkScores(chunks, (scorer or self.scorer)(chunks, progress=progress))

    def pool(self, scores: ChunkScores, encoded: Sequence[Encoded], pooling: str | None = None) -> list[Prediction]:
        """The pool stage: each text's answer under a pooling (default: the settings'), as the task decides."""
        return predictions(scores, encoded, self.task, check_pooling(pooling or self.settings.pooling))

    def iter_predict(
        self,
        texts: Iterable[str],
        strategy: Strategy | None = None,
        pooling: str | None = None,
        *,
        batch_tokens: int | None = None,
        padding: str = "longest",
        progress: bool = False,
        prefetch: bool = True,
    ) -> Iterator[Prediction]:
        """Predict texts in order, a bounded group at a time, so any number of texts streams through.

        prefetch: tokenize the next group in a thread while this one is scored (off only to measure it).
        """
        pooling = check_pooling(pooling or self.settings.pooling)
        strategy = strategy or self.settings.strategy
        strategy.validate(self.max_chunk_size)
        scorer = self.scorer_with(batch_tokens, padding)
        total = len(texts) if isinstance(texts, Sequence) else None

        def encode(group: list[str]) -> list[Encoded]:
            return self.encode(group, strategies=[strategy])

        with tqdm(total=total, desc="texts", unit="text", disable=not progress) as bar:
            grouped = text_groups(texts)
            groups = _prefetched(encode, grouped) if prefetch else ((g, encode(g)) for g in grouped)
            for group, encoded in groups:
                yield from predictions(self.score(chunk(encoded, strategy), scorer), encoded, self.task, pooling)
                bar.update(len(group))

    def predict(
        self, texts: Sequence[str] | str, strategy: Strategy | None = None, pooling: str | None = None, **kwargs
    ) -> list[Prediction]:
        """Predictions for many texts (or one text), in input order."""
        if isinstance(texts, str):
            texts = [texts]
        return list(self.iter_predict(texts, strategy, pooling, **kwargs))


def _prefetched(func: Callable[[T], U], items: Iterable[T]) -> Iterator[tuple[T, U]]:
    """Yield (item, func(item)) in order, computing the next item's result in a thread meanwhile.

    The tokenizer releases the GIL, so the next group tokenizes while this one is scored.
    """
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=1) as executor:
        item = next(iterator, _END)
        future = executor.submit(func, item) if item is not _END else None
        while future is not None:
            result = future.result()
            current, item = item, next(iterator, _END)
            future = executor.submit(func, item) if item is not _END else None
            yield current, result


def text_groups(texts: Iterable[str], most_texts: int | None = None) -> Iterator[list[str]]:
    """Consecutive texts, each checked (check_text), in groups of at most most_texts (default GROUP_TEXTS) texts or
    about GROUP_CHARS characters: what prediction and explanation stream through."""
    most_texts = most_texts or GROUP_TEXTS
    group: list[str] = []
    chars = 0
    for index, text in enumerate(texts):
        group.append(check_text(text, f"text {index}"))
        chars += len(text)
        if chars >= GROUP_CHARS or len(group) >= most_texts:
            yield group
            group, chars = [], 0
    if group:
        yield group
