"""Task types, read from a model's config: what a chunk's outputs mean, how they pool, decide and train.

- single_label_classification: a softmax over 2+ classes; the answer is the most probable class;
- multi_label_classification: a sigmoid per label; the answer is every label at or above the threshold;
- regression: the raw outputs (one for a plain regression model); the answer is the value.
The names are transformers' `problem_type` values; a config without one is regression with one
output and single-label otherwise, as transformers itself assumes. label_targets reads a label
column for a task (training and evaluation both use it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from longbert.errors import LongbertError
from longbert.pooling import ACTIVATIONS, pool

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"
TASKS = (SINGLE_LABEL, MULTI_LABEL, REGRESSION)
SHORT_NAMES = {"single_label": SINGLE_LABEL, "multi_label": MULTI_LABEL, "regression": REGRESSION}


def check_threshold(threshold: float) -> float:
    """A multi-label decision threshold strictly between 0 and 1."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < 1:
        raise LongbertError(f"threshold must be a number between 0 and 1, got {threshold!r}")
    return float(threshold)


def task_kind(name: str) -> str:
    """A task type from its full or short name (single_label, multi_label, regression)."""
    kind = SHORT_NAMES.get(name, name)
    if kind not in TASKS:
        raise LongbertError(f"unknown task {name!r}: use single_label, multi_label or regression")
    return kind


@dataclass(frozen=True)
class Task:
    """What a model's outputs mean: its task type, its output names and (multi-label) its decision threshold."""

    kind: str
    labels: tuple[str, ...]
    threshold: float = 0.5

    @property
    def activation(self) -> str:
        return {SINGLE_LABEL: "softmax", MULTI_LABEL: "sigmoid", REGRESSION: "identity"}[self.kind]

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-chunk outputs: class probabilities, label probabilities or raw values."""
        return ACTIVATIONS[self.activation](logits.float())

    def pool(self, logits: torch.Tensor, counts: Sequence[int], method: str, lengths: torch.Tensor | None = None):
        """Pooled outputs [n_texts, n_outputs] of consecutive texts' chunk logits."""
        return pool(logits, counts, method, lengths, self.activation)

    def loss(self, pooled: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training loss of pooled outputs: cross-entropy, binary cross-entropy per label, or squared error."""
        if self.kind == SINGLE_LABEL:
            return -pooled.gather(1, targets[:, None].long()).clamp_min(1e-12).log().mean()
        if self.kind == MULTI_LABEL:
            return torch.nn.functional.binary_cross_entropy(pooled.clamp(1e-7, 1 - 1e-7), targets.float())
        return torch.nn.functional.mse_loss(pooled, targets.float().reshape(pooled.shape))

    def decide(self, pooled: Sequence[float]) -> dict:
        """The answer for one text's pooled outputs, as the fields of a Prediction."""
        values = tuple(float(v) for v in pooled)
        if self.kind == SINGLE_LABEL:
            best = max(range(len(values)), key=values.__getitem__)
            return {"label": self.labels[best], "probabilities": values}
        if self.kind == MULTI_LABEL:
            chosen = tuple(name for name, p in zip(self.labels, values) if p >= self.threshold)
            return {"labels": chosen, "probabilities": values}
        return {"value": as_value(values)}


def as_value(outputs: Sequence[float]) -> float | tuple[float, ...]:
    """A regression answer: a float for a one-output model, else a tuple of its outputs."""
    values = tuple(float(v) for v in outputs)
    return values[0] if len(values) == 1 else values


def first_output(value: float | tuple[float, ...]) -> float:
    """A regression answer's first output (what the app shows for a model with several)."""
    return value if isinstance(value, float) else value[0]


def task_for(config, threshold: float = 0.5) -> Task:
    """The task of a transformers config (problem_type, num_labels, id2label), checked for consistency."""
    n = int(config.num_labels)
    kind = config.problem_type or (REGRESSION if n == 1 else SINGLE_LABEL)
    if kind not in TASKS:
        raise LongbertError(f"the model's problem_type {kind!r} is not one of {', '.join(TASKS)}")
    if kind == SINGLE_LABEL and n < 2:
        raise LongbertError("the model is single-label with one output: a classifier needs two or more classes")
    labels = tuple(str(config.id2label.get(i, f"LABEL_{i}")) for i in range(n))
    return Task(kind, labels, check_threshold(threshold))


def is_number(value) -> bool:
    """A real, finite number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def label_targets(
    column: Sequence, task: str | None = None, labels: Sequence[str] | None = None
) -> tuple[str, list[str], np.ndarray]:
    """(task type, output names, targets) from a label column, or a one-line error naming the first bad row.

    single_label: integers 0..K-1 (K from labels, else the largest + 1), at least two classes present;
    multi_label: a list per row of label names (order from labels, else sorted) or indices; multi-hot out;
    regression: finite numbers. Without a task: lists mean multi-label, non-integer numbers regression.
    """
    values = list(column)
    if not values:
        raise LongbertError("no training texts")
    if task is None:
        first = values[0]
        if isinstance(first, list | tuple | np.ndarray):
            task = MULTI_LABEL
        elif (
            is_number(first)
            and isinstance(first, float | np.floating)
            and any(is_number(v) and float(v) != int(v) for v in values)
        ):
            task = REGRESSION
        else:
            task = SINGLE_LABEL
    task = task_kind(task)
    if task == REGRESSION:
        for row, v in enumerate(values):
            if not is_number(v):
                raise LongbertError(f"row {row}: regression labels must be finite numbers, got {v!r}")
        return task, list(labels or ["value"]), np.asarray(values, np.float32).reshape(-1, 1)
    if task == MULTI_LABEL:
        return task, *_multi_hot(values, labels)
    for row, v in enumerate(values):
        if not is_number(v) or float(v) != int(v) or v < 0:
            hint = " (for a numeric target use --task regression)" if is_number(v) else ""
            raise LongbertError(f"row {row}: single-label labels must be integers 0..K-1, got {v!r}{hint}")
    targets = np.asarray(values, np.int64)
    count = len(labels) if labels else int(targets.max()) + 1
    if targets.max() >= count:
        raise LongbertError(f"label {int(targets.max())} is out of range for {count} label names")
    present = len(np.unique(targets))
    if not labels and count > 2 and present < count:
        raise LongbertError(
            f"the largest label, {count - 1}, makes {count:,} classes but only {present} of them occur: "
            "number the classes 0..K-1, or name all K with --labels"
        )
    names = (
        list(labels) if labels else (["NEGATIVE", "POSITIVE"] if count == 2 else [f"LABEL_{i}" for i in range(count)])
    )
    return task, names, targets


def _multi_hot(values: list, labels: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
    for row, v in enumerate(values):
        if not isinstance(v, list | tuple | np.ndarray):
            raise LongbertError(f"row {row}: multi-label labels must be a list of label names or indices, got {v!r}")
    items = [item for v in values for item in v]
    if all(isinstance(i, str) for i in items):
        names = list(labels) if labels else sorted(set(items))
        index = {name: k for k, name in enumerate(names)}
        unknown = sorted(set(items) - set(index))
        if unknown:
            raise LongbertError(f"labels {unknown[:3]} are not among the label names {names}")
        rows = [[index[i] for i in v] for v in values]
    elif all(is_number(i) and float(i) == int(i) and i >= 0 for i in items):
        rows = [[int(i) for i in v] for v in values]
        count = len(labels) if labels else max((max(r) for r in rows if r), default=0) + 1
        if any(i >= count for r in rows for i in r):
            raise LongbertError(f"a label index is out of range for {count} label names")
        names = list(labels) if labels else [f"LABEL_{i}" for i in range(count)]
    else:
        raise LongbertError("multi-label labels must be all label names or all indices 0..K-1")
    targets = np.zeros((len(values), len(names)), np.float32)
    for row, indices in enumerate(rows):
        targets[row, indices] = 1.0
    return names, targets
