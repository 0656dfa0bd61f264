"""Task types, one class each behind one Task interface: what a model's outputs mean and everything decided by it.

- SingleLabel (single_label_classification): a softmax over 2+ classes; the answer is the most probable class;
- MultiLabel (multi_label_classification): a sigmoid per label; the answer is every label at or above a threshold;
- Regression (regression): the raw outputs (one for a plain regression model); the answer is the value.
A task owns its activation, loss, decision, primary metric, numpy-only validation score, the answer for a text
without tokens, its JSON record and parquet columns, how its outputs are stored in results and read back, and
how a label column becomes targets. task_for picks one from a transformers config (problem_type, num_labels);
register_task adds a task type defined elsewhere, which predict, evaluation and training then use unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import torch

from longbert.errors import LongbertError

# What a chunk's logits become: class probabilities, label probabilities or the raw values.
ACTIVATIONS = {"softmax": lambda x: x.softmax(-1), "sigmoid": torch.sigmoid, "identity": lambda x: x}
SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"


def check_threshold(threshold: float) -> float:
    """A multi-label decision threshold strictly between 0 and 1."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < 1:
        raise LongbertError(f"threshold must be a number between 0 and 1, got {threshold!r}")
    return float(threshold)


def is_number(value) -> bool:
    """A real, finite number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Task:
    """A task type with its output names (and, where it decides by one, its threshold).

    Subclasses set the class attributes and implement loss, decide, record, columns, validation_metric,
    per_review, decisions and targets; the rest has defaults that serve probabilities and values alike.
    """

    labels: tuple[str, ...]
    threshold: float = 0.5

    name: ClassVar[str]  # the task's name: transformers' problem_type where transformers knows it
    problem_type: ClassVar[str | None] = None  # what a model's config says (None: transformers has no such type)
    short_name: ClassVar[str]
    activation: ClassVar[str]  # softmax, sigmoid or identity (ACTIVATIONS)
    metric: ClassVar[str]  # the metric results and epochs are ranked by
    higher_is_better: ClassVar[bool] = True
    comparison: ClassVar[str] = "correct"  # per_review gives: "correct" (booleans) or "errors" (absolute errors)
    stratify: ClassVar[bool] = False  # split validation texts by label
    standardize: ClassVar[bool] = False  # train on standardized targets (folded back into the head on save)
    empty_output: ClassVar[float] = 0.5  # each pooled output of a text without tokens
    values: ClassVar[bool] = False  # chunk outputs are values, not probabilities

    @property
    def kind(self) -> str:
        return self.name

    def check(self) -> Task:
        """The task, or a one-line error where its outputs cannot be this task's."""
        check_threshold(self.threshold)
        return self

    def with_threshold(self, threshold: float) -> Task:
        raise LongbertError(f"--threshold applies to multi-label models; this one is {self.name}")

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-chunk outputs: class probabilities, label probabilities or raw values."""
        return ACTIVATIONS[self.activation](logits.float())

    def filled(self, pooled: np.ndarray) -> np.ndarray:
        """Pooled outputs with the rows of texts without tokens (NaN) given empty_output."""
        return np.nan_to_num(pooled, nan=self.empty_output)

    def chunk_output(self, outputs: Sequence[float]) -> dict:
        """A ChunkResult's output fields for one chunk's activated outputs."""
        return {"probabilities": tuple(float(v) for v in outputs)}

    def outputs_record(self, probabilities, value) -> dict:
        """JSON of one text's or chunk's outputs: probabilities keyed by label name."""
        return {"probabilities": None if probabilities is None else dict(zip(self.labels, probabilities))}

    def chunk_values(self, chunk) -> list[float]:
        """One chunk's outputs as a flat list (the parquet chunk_outputs column)."""
        return [float(v) for v in chunk.probabilities]

    def stored(self, outputs: np.ndarray) -> list | np.ndarray:
        """How pooled outputs [n, C] are stored in a results column: a list per review unless a subclass says."""
        return list(outputs)

    def restored(self, outputs: np.ndarray) -> np.ndarray:
        """Stored outputs back as [n, C]."""
        return outputs

    def metrics(self, targets: np.ndarray, outputs: np.ndarray) -> dict:
        """Numpy-only metrics (n and the primary metric); evaluation adds richer ones for the built-in tasks."""
        return {"n": len(targets), self.metric: self.validation_metric(outputs, targets) if len(targets) else math.nan}

    def effect_record(self, effect: Sequence[float], prediction) -> float | dict | tuple:
        """A sentence's effect on the answer (longbert.evidence) as JSON: per output name unless a subclass says."""
        return dict(zip(self.labels, (float(v) for v in effect)))

    def effect_headline(self, effect: Sequence[float], prediction) -> float:
        """A sentence's effect on the one output the app shades by (the first unless a subclass says)."""
        return float(effect[0])

    def better(self, score: float) -> float:
        """A metric value turned so that higher is better (for ranking)."""
        return score if self.higher_is_better else -score

    @classmethod
    def matches(cls, values: list) -> bool:
        """Whether a label column without a named task looks like this task's (lists, fractional numbers, ...)."""
        return False

    def label_values(self, targets: np.ndarray) -> list | np.ndarray:
        """A label column in the one form results keep: the targets as targets() gave them, a value per row."""
        return list(targets)

    @classmethod
    def check_training(cls, targets: np.ndarray) -> None:
        """A one-line error where targets cannot train this task (one class only, say)."""


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """Each text's class: P(class 1) >= 0.5 for two classes, else the most probable class."""
    return (outputs[:, 1] >= 0.5).astype(int) if outputs.shape[1] == 2 else outputs.argmax(1)


def class_ids(values: list[str], labels: Sequence[str]) -> list[int]:
    """Class names as ids of labels, matched whatever their case; one line naming those that match none."""
    index = {str(name).casefold(): k for k, name in enumerate(labels)}
    unknown = list(dict.fromkeys(v for v in values if v.casefold() not in index))
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:3]) + (
            f" and {len(unknown) - 3:,} more" if len(unknown) > 3 else ""
        )
        raise LongbertError(f"label(s) {shown} not among the label names ({', '.join(map(str, labels))})")
    return [index[v.casefold()] for v in values]


@dataclass(frozen=True)
class SingleLabel(Task):
    name = SINGLE_LABEL
    problem_type = SINGLE_LABEL
    short_name = "single_label"
    activation = "softmax"
    metric = "accuracy"
    stratify = True

    def check(self) -> Task:
        if len(self.labels) < 2:
            raise LongbertError("the model is single-label with one output: a classifier needs two or more classes")
        return super().check()

    def filled(self, pooled: np.ndarray) -> np.ndarray:
        return np.nan_to_num(pooled, nan=1 / pooled.shape[1])

    def loss(self, pooled: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -pooled.gather(1, targets[:, None].long()).clamp_min(1e-12).log().mean()

    def decide(self, pooled: Sequence[float]) -> dict:
        values = tuple(float(v) for v in pooled)
        best = int(predicted_classes(np.asarray([values]))[0])
        return {"label": self.labels[best], "probabilities": values}

    def record(self, prediction) -> dict:
        return {"label": prediction.label} | self.outputs_record(prediction.probabilities, None)

    def columns(self, prediction) -> dict:
        probabilities = None if prediction is None else prediction.probabilities
        return {
            "label": None if prediction is None else prediction.label,
            "probabilities": None if probabilities is None else list(probabilities),
        }

    def effect_record(self, effect: Sequence[float], prediction) -> float:
        """The effect on the chosen class's probability."""
        return float(effect[self.labels.index(prediction.label)])

    def effect_headline(self, effect: Sequence[float], prediction) -> float:
        return self.effect_record(effect, prediction)

    def words(self, prediction) -> tuple[str, str]:
        """The answer and how sure it is, in words."""
        return prediction.label, probability_text(max(prediction.probabilities), 1, percent=True)

    def validation_metric(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        return float((predicted_classes(outputs) == targets).mean())

    def per_review(self, targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        return predicted_classes(outputs) == np.asarray(targets)

    def decisions(self, outputs: np.ndarray) -> np.ndarray:
        return predicted_classes(outputs)

    def stored(self, outputs: np.ndarray) -> list | np.ndarray:
        """Two classes are stored as P(class 1)."""
        return outputs[:, 1] if outputs.shape[1] == 2 else list(outputs)

    def restored(self, outputs: np.ndarray) -> np.ndarray:
        return np.concatenate([1 - outputs, outputs], 1) if outputs.shape[1] == 1 else outputs

    @classmethod
    def targets(cls, values: list, labels: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
        """Integers 0..K-1 (K from labels, else the largest + 1), or class names matched to labels whatever their
        case, at least two classes present."""
        if labels and values and all(isinstance(v, str) for v in values):
            values = class_ids(values, labels)
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
        if labels:
            return list(labels), targets
        return (["NEGATIVE", "POSITIVE"] if count == 2 else [f"LABEL_{i}" for i in range(count)]), targets

    def label_values(self, targets: np.ndarray) -> list | np.ndarray:
        """Class ids."""
        return targets

    @classmethod
    def check_training(cls, targets: np.ndarray) -> None:
        if len(np.unique(targets)) < 2:
            raise LongbertError(f"training needs at least two classes: every label is {int(targets[0])}")


@dataclass(frozen=True)
class MultiLabel(Task):
    name = MULTI_LABEL
    problem_type = MULTI_LABEL
    short_name = "multi_label"
    activation = "sigmoid"
    metric = "micro_f1"

    def with_threshold(self, threshold: float) -> Task:
        return replace(self, threshold=check_threshold(threshold))

    def loss(self, pooled: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.binary_cross_entropy(pooled.clamp(1e-7, 1 - 1e-7), targets.float())

    def decide(self, pooled: Sequence[float]) -> dict:
        values = tuple(float(v) for v in pooled)
        chosen = tuple(name for name, p in zip(self.labels, values) if p >= self.threshold)
        return {"labels": chosen, "probabilities": values}

    def record(self, prediction) -> dict:
        labels = None if prediction.labels is None else list(prediction.labels)
        return {"labels": labels} | self.outputs_record(prediction.probabilities, None)

    def columns(self, prediction) -> dict:
        labels = None if prediction is None else prediction.labels
        probabilities = None if prediction is None else prediction.probabilities
        return {
            "labels": None if labels is None else list(labels),
            "probabilities": None if probabilities is None else list(probabilities),
        }

    def effect_headline(self, effect: Sequence[float], prediction) -> float:
        """The effect on the most probable label's probability."""
        return float(effect[int(np.argmax(prediction.probabilities))])

    def words(self, prediction) -> tuple[str, str]:
        return ", ".join(prediction.labels) or "no label", f"top {max(prediction.probabilities):.1%}"

    def validation_metric(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        """Micro-F1 of the labels at or above the threshold."""
        chosen, truth = outputs >= self.threshold, targets > 0.5
        return 2 * float((chosen & truth).sum()) / max(float(chosen.sum() + truth.sum()), 1.0)

    def per_review(self, targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        """Whether each text's label set is exactly right."""
        return ((outputs >= self.threshold) == (np.asarray(targets) > 0.5)).all(1)

    def decisions(self, outputs: np.ndarray) -> np.ndarray:
        """Each text's label set as bits."""
        return ((outputs >= self.threshold).astype(np.int64) << np.arange(outputs.shape[1])).sum(1)

    def label_values(self, targets: np.ndarray) -> list | np.ndarray:
        """The ids of each row's labels."""
        return [np.flatnonzero(row > 0.5).tolist() for row in targets]

    @classmethod
    def matches(cls, values: list) -> bool:
        return isinstance(values[0], list | tuple | np.ndarray)

    @classmethod
    def targets(cls, values: list, labels: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
        """A list per row of label names (order from labels, else sorted) or indices; multi-hot rows out."""
        for row, v in enumerate(values):
            if not isinstance(v, list | tuple | np.ndarray):
                raise LongbertError(
                    f"row {row}: multi-label labels must be a list of label names or indices, got {v!r}"
                )
        items = [item for v in values for item in v]
        if all(isinstance(i, str) for i in items):
            names = list(labels) if labels else sorted(set(items))
            rows = [class_ids(list(v), names) for v in values]
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


def as_value(outputs: Sequence[float]) -> float | tuple[float, ...]:
    """A regression answer: a float for a one-output model, else a tuple of its outputs."""
    values = tuple(float(v) for v in outputs)
    return values[0] if len(values) == 1 else values


def probability_text(p: float, digits: int = 3, percent: bool = False) -> str:
    """A probability to `digits` decimals (of a percentage, if percent), with more where fewer would round it onto or
    across 0.5 (0.4996 reads 0.4996, never 0.500; 0.5004 reads 50.04%, never 50.0%): the side of 0.5 decides a
    two-class answer."""
    if p != p:
        return "-"
    for places in range(digits, digits + 6):
        text = f"{p:.{places}%}" if percent else f"{p:.{places}f}"
        shown = float(text.rstrip("%")) / (100 if percent else 1)
        if p == 0.5 or (shown - 0.5) * (p - 0.5) > 0:
            return text
    return text


def first_output(value: float | tuple[float, ...]) -> float:
    """A regression answer's first output (what the app shows for a model with several)."""
    return value if isinstance(value, float) else value[0]


@dataclass(frozen=True)
class Regression(Task):
    name = REGRESSION
    problem_type = REGRESSION
    short_name = "regression"
    activation = "identity"
    metric = "mae"
    higher_is_better = False
    comparison = "errors"
    standardize = True
    empty_output = 0.0
    values = True

    def loss(self, pooled: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(pooled, targets.float().reshape(pooled.shape))

    def decide(self, pooled: Sequence[float]) -> dict:
        return {"value": as_value(pooled)}

    def chunk_output(self, outputs: Sequence[float]) -> dict:
        return {"probabilities": None, "value": as_value(outputs)}

    def outputs_record(self, probabilities, value) -> dict:
        return {"value": value}

    def effect_record(self, effect: Sequence[float], prediction) -> float | tuple[float, ...]:
        """The effect on the value (on each value of a many-output model)."""
        return as_value(effect)

    def chunk_values(self, chunk) -> list[float]:
        return [float(v) for v in np.atleast_1d(chunk.value)]

    def record(self, prediction) -> dict:
        return self.outputs_record(None, prediction.value)

    def columns(self, prediction) -> dict:
        return {"value": None if prediction is None else prediction.value}

    def words(self, prediction) -> tuple[str, str]:
        value = prediction.value
        return (f"{value:.3g}" if isinstance(value, float) else ", ".join(f"{v:.3g}" for v in value)), "value"

    def validation_metric(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        """Mean absolute error."""
        return float(np.abs(outputs - targets.reshape(outputs.shape)).mean())

    def per_review(self, targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        """Each text's absolute error (first output)."""
        return np.abs(outputs[:, 0] - np.asarray(targets, dtype=float).ravel())

    def decisions(self, outputs: np.ndarray) -> np.ndarray:
        """Each text's value, rounded."""
        return np.round(outputs[:, 0]).astype(np.int64)

    def label_values(self, targets: np.ndarray) -> list | np.ndarray:
        """The value (or the values of a many-output model); whole numbers stay integers (ratings), so a sample
        keeps balancing over them."""
        if targets.shape[1] > 1:
            return list(targets)
        values = targets[:, 0].astype(np.float64)
        return values.astype(np.int64) if np.all(values == np.round(values)) else values

    def stored(self, outputs: np.ndarray) -> list | np.ndarray:
        """One output is stored as the value."""
        return outputs[:, 0] if outputs.shape[1] == 1 else list(outputs)

    @classmethod
    def matches(cls, values: list) -> bool:
        first = values[0]
        fractional = any(is_number(v) and float(v) != int(v) for v in values)
        return is_number(first) and isinstance(first, float | np.floating) and fractional

    @classmethod
    def targets(cls, values: list, labels: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
        """Finite numbers, as a column [n, 1]."""
        for row, v in enumerate(values):
            if not is_number(v):
                raise LongbertError(f"row {row}: regression labels must be finite numbers, got {v!r}")
        return list(labels or ["value"]), np.asarray(values, np.float32).reshape(-1, 1)


TASK_TYPES: dict[str, type[Task]] = {}


def register_task(task_type: type[Task]) -> type[Task]:
    """Make a task type known by its name and short name (usable as a class decorator)."""
    TASK_TYPES[task_type.name] = TASK_TYPES[task_type.short_name] = task_type
    return task_type


for _builtin in (SingleLabel, MultiLabel, Regression):
    register_task(_builtin)


def task_type(name: str) -> type[Task]:
    """A task type by its full or short name (single_label, multi_label, regression, or one registered)."""
    if name not in TASK_TYPES:
        known = ", ".join(dict.fromkeys(t.short_name for t in TASK_TYPES.values()))
        raise LongbertError(f"unknown task {name!r}: use {known}")
    return TASK_TYPES[name]


def task_kind(name: str) -> str:
    """A task type's full name from its full or short name."""
    return task_type(name).name


def task_for(config, threshold: float = 0.5, name: str | None = None) -> Task:
    """The task of a transformers config (problem_type, num_labels, id2label), checked for consistency; name (from
    longbert.json) overrides problem_type for task types transformers does not know."""
    n = int(config.num_labels)
    kind = name or config.problem_type or (REGRESSION if n == 1 else SINGLE_LABEL)
    if kind not in TASK_TYPES:
        raise LongbertError(f"the model's problem_type {kind!r} is not one of {', '.join(t.name for t in _distinct())}")
    labels = tuple(str(config.id2label.get(i, f"LABEL_{i}")) for i in range(n))
    return TASK_TYPES[kind](labels, threshold).check()


def _distinct() -> list[type[Task]]:
    return list(dict.fromkeys(TASK_TYPES.values()))


def label_targets(
    column: Sequence, task: str | None = None, labels: Sequence[str] | None = None
) -> tuple[str, list[str], np.ndarray]:
    """(task name, output names, targets) from a label column, or a one-line error naming the first bad row.

    Without a task, the first registered type whose matches() accepts the column (lists: multi-label,
    fractional numbers: regression), else single-label.
    """
    values = list(column)
    if not values:
        raise LongbertError("no training texts")
    found = next((t for t in _distinct() if t.matches(values)), SingleLabel) if task is None else task_type(task)
    return found.name, *found.targets(values, labels)
