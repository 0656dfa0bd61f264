"""Metrics for every task type (scikit-learn, scipy), length buckets and paired significance against a baseline.

- single-label: accuracy with a Wilson interval, F1 (macro for 3+ classes), ROC-AUC, log-loss, Brier;
- multi-label: micro and macro F1, subset accuracy, Hamming loss, ROC-AUC per label and its mean;
- regression: MAE, RMSE, R², Spearman and Pearson correlation.
Calibration: the expected calibration error (ECE) over ten equal-width bins of predicted probability, and the
bins themselves for a reliability diagram.
Paired comparisons: per-review correctness (exact label set for multi-label) with McNemar's exact test,
or per-review absolute error with the Wilcoxon signed-rank test (regression); against the best setting, with
Holm's adjustment across the settings compared.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binomtest, pearsonr, spearmanr, wilcoxon
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    hamming_loss,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from longbert.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, Task

BUCKETS = ("<=510", "511-1024", ">1024")
Z95 = 1.959963984540054
CALIBRATION_BINS = 10
ALPHA = 0.05
ADJUSTMENT = (
    "each setting against the best by the main metric: McNemar's exact test on per-review correctness (Wilcoxon's "
    "signed-rank test on absolute errors for regression), p-values adjusted by Holm's method over the settings "
    "compared (family-wise error 5%); near_best: the difference from the best is not significant after adjustment"
)


def length_bucket(num_tokens: np.ndarray) -> np.ndarray:
    """The length bucket of each review by content-token count: <=510, 511-1024, >1024."""
    num_tokens = np.asarray(num_tokens)
    return np.where(num_tokens <= 510, BUCKETS[0], np.where(num_tokens <= 1024, BUCKETS[1], BUCKETS[2]))


def wilson_interval(correct: int, total: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if total == 0:
        return math.nan, math.nan
    p = correct / total
    center = (p + Z95**2 / (2 * total)) / (1 + Z95**2 / total)
    half = Z95 * math.sqrt(p * (1 - p) / total + Z95**2 / (4 * total**2)) / (1 + Z95**2 / total)
    return center - half, center + half


def reliability_bins(probabilities: np.ndarray, outcomes: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Equal-width bins of predicted probability: each bin's mean prediction, observed frequency and n (empty bins
    dropped), and the expected calibration error, the n-weighted mean gap between the two."""
    probabilities = np.asarray(probabilities, dtype=float).ravel()
    outcomes = np.asarray(outcomes, dtype=float).ravel()
    which = np.clip((probabilities * bins).astype(int), 0, bins - 1)
    n = np.bincount(which, minlength=bins)
    filled = n > 0
    predicted = np.bincount(which, probabilities, bins)[filled] / n[filled]
    observed = np.bincount(which, outcomes, bins)[filled] / n[filled]
    total = max(len(probabilities), 1)
    ece = float((n[filled] * np.abs(predicted - observed)).sum() / total) if len(probabilities) else math.nan
    return {"predicted": predicted.tolist(), "observed": observed.tolist(), "n": n[filled].tolist(), "ece": ece}


def calibration(task: Task, targets: np.ndarray, outputs: np.ndarray) -> dict:
    """reliability_bins of what a task's outputs claim, and what that is in words ("what"): P(class 1) for two
    classes, the top class's probability (against being right) for more, every label's probability for
    multi-label; empty for values (regression). The one place that decides what ECE measures."""
    if task.values:
        return {}
    targets = np.asarray(targets)
    if task.activation == "sigmoid":
        return reliability_bins(outputs, targets > 0.5) | {"what": "P(label), every label"}
    if outputs.shape[1] == 2:
        return reliability_bins(outputs[:, 1], targets == 1) | {"what": f"P({task.labels[1]})"}
    return reliability_bins(outputs.max(1), outputs.argmax(1) == targets) | {"what": "top class probability"}


def binary_metrics(labels: np.ndarray, positive: np.ndarray) -> dict:
    """Accuracy (with a 95% interval), F1, ROC-AUC, log-loss and Brier score of positive-class probabilities."""
    labels = np.asarray(labels, dtype=int)
    positive = np.clip(np.asarray(positive, dtype=float), 1e-7, 1 - 1e-7)
    predicted = (positive >= 0.5).astype(int)
    n = len(labels)
    correct = int((predicted == labels).sum())
    low, high = wilson_interval(correct, n)
    both_classes = len(np.unique(labels)) == 2
    return {
        "n": n,
        "accuracy": accuracy_score(labels, predicted) if n else math.nan,
        "accuracy_low": low,
        "accuracy_high": high,
        "f1": f1_score(labels, predicted, zero_division=0.0) if n else math.nan,
        "roc_auc": roc_auc_score(labels, positive) if both_classes else math.nan,
        "log_loss": log_loss(labels, positive, labels=[0, 1]) if n else math.nan,
        "brier": brier_score_loss(labels, positive, pos_label=1) if n else math.nan,
        "confusion": confusion_matrix(labels, predicted, labels=[0, 1]).tolist() if n else [[0, 0], [0, 0]],
    }


def class_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy (with a 95% interval), macro F1 and log-loss of class probabilities [n, K] for 3+ classes."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    probabilities = probabilities / probabilities.sum(1, keepdims=True)  # float32 sums drift from 1 by ~1e-7
    n, k = len(labels), probabilities.shape[1]
    predicted = probabilities.argmax(1)
    low, high = wilson_interval(int((predicted == labels).sum()), n)
    return {
        "n": n,
        "accuracy": accuracy_score(labels, predicted) if n else math.nan,
        "accuracy_low": low,
        "accuracy_high": high,
        "f1": f1_score(labels, predicted, average="macro", labels=list(range(k)), zero_division=0.0) if n else math.nan,
        "log_loss": log_loss(labels, np.clip(probabilities, 1e-7, 1), labels=list(range(k))) if n else math.nan,
    }


def multi_label_metrics(targets: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict:
    """Micro/macro F1, subset accuracy (with a 95% interval), Hamming loss and ROC-AUC per label [n, L]."""
    targets = np.asarray(targets, dtype=int)
    chosen = (np.asarray(probabilities, dtype=float) >= threshold).astype(int)
    n = len(targets)
    exact = int((chosen == targets).all(1).sum())
    low, high = wilson_interval(exact, n)
    aucs = [
        roc_auc_score(targets[:, j], probabilities[:, j]) if len(np.unique(targets[:, j])) == 2 else math.nan
        for j in range(targets.shape[1])
    ]
    return {
        "n": n,
        "micro_f1": f1_score(targets, chosen, average="micro", zero_division=0.0) if n else math.nan,
        "macro_f1": f1_score(targets, chosen, average="macro", zero_division=0.0) if n else math.nan,
        "subset_accuracy": exact / n if n else math.nan,
        "subset_accuracy_low": low,
        "subset_accuracy_high": high,
        "hamming_loss": hamming_loss(targets, chosen) if n else math.nan,
        "roc_auc": float(np.nanmean(aucs)) if not all(math.isnan(a) for a in aucs) else math.nan,
        "roc_auc_per_label": aucs,
    }


def regression_metrics(targets: np.ndarray, values: np.ndarray) -> dict:
    """MAE, RMSE, R², Spearman's and Pearson's correlation of predicted values."""
    targets, values = np.asarray(targets, dtype=float).ravel(), np.asarray(values, dtype=float).ravel()
    n = len(targets)
    varied = n > 1 and np.ptp(targets) > 0 and np.ptp(values) > 0
    return {
        "n": n,
        "mae": mean_absolute_error(targets, values) if n else math.nan,
        "rmse": math.sqrt(mean_squared_error(targets, values)) if n else math.nan,
        "r2": r2_score(targets, values) if n > 1 else math.nan,
        "spearman": float(spearmanr(targets, values).statistic) if varied else math.nan,
        "pearson": float(pearsonr(targets, values).statistic) if varied else math.nan,
    }


def paired_errors(errors: np.ndarray, baseline_errors: np.ndarray) -> dict:
    """Mean absolute-error difference against a baseline on the same reviews: a paired 95% interval and
    the Wilcoxon signed-rank test; wins are reviews with a smaller error than the baseline's."""
    difference = np.asarray(errors, dtype=float) - np.asarray(baseline_errors, dtype=float)
    n = len(difference)
    if n == 0:
        return {"mae_diff": math.nan, "diff_low": math.nan, "diff_high": math.nan, "wilcoxon_p": math.nan}
    mean = float(difference.mean())
    half = Z95 * float(difference.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    p_value = float(wilcoxon(difference).pvalue) if np.any(difference != 0) else 1.0
    return {
        "mae_diff": mean,
        "diff_low": mean - half,
        "diff_high": mean + half,
        "wins": int((difference < 0).sum()),
        "losses": int((difference > 0).sum()),
        "wilcoxon_p": p_value,
    }


def paired_correct(right: np.ndarray, base_right: np.ndarray) -> dict:
    """Accuracy difference against a baseline on the same reviews: a paired 95% interval and McNemar's exact test."""
    right, base_right = np.asarray(right, dtype=bool), np.asarray(base_right, dtype=bool)
    n = len(right)
    if n == 0:
        return {"accuracy_diff": math.nan, "diff_low": math.nan, "diff_high": math.nan, "mcnemar_p": math.nan}
    difference = right.astype(float) - base_right.astype(float)
    mean = float(difference.mean())
    half = Z95 * float(difference.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    only_this = int((right & ~base_right).sum())
    only_base = int((~right & base_right).sum())
    discordant = only_this + only_base
    p_value = binomtest(only_this, discordant, 0.5).pvalue if discordant else 1.0
    return {
        "accuracy_diff": mean,
        "diff_low": mean - half,
        "diff_high": mean + half,
        "wins": only_this,
        "losses": only_base,
        "mcnemar_p": float(p_value),
    }


def single_label_metrics(task: Task, targets: np.ndarray, outputs: np.ndarray) -> dict:
    """binary_metrics of P(class 1) for two classes, else class_metrics."""
    return binary_metrics(targets, outputs[:, 1]) if outputs.shape[1] == 2 else class_metrics(targets, outputs)


# scikit-learn's metrics for the built-in task types; a task type defined elsewhere gets its own Task.metrics.
RICH_METRICS = {
    SINGLE_LABEL: single_label_metrics,
    MULTI_LABEL: lambda task, targets, outputs: multi_label_metrics(targets, outputs, task.threshold),
    REGRESSION: lambda task, targets, outputs: regression_metrics(targets, outputs[:, 0]),
}


def task_metrics(task: Task, targets: np.ndarray, outputs: np.ndarray) -> dict:
    """The metrics of a task for pooled outputs [n, C] against targets (labels, multi-hot rows or values), with the
    expected calibration error for the built-in tasks that give probabilities."""
    rich = RICH_METRICS.get(task.name)
    if not rich:
        return task.metrics(targets, outputs)
    metrics = rich(task, targets, outputs)
    if not task.values:
        metrics["ece"] = calibration(task, targets, outputs)["ece"]
    return metrics


def paired(task: Task, this: np.ndarray, baseline: np.ndarray) -> dict:
    """A setting's Task.per_review values against the baseline's on the same reviews: correctness (McNemar) or
    absolute errors (Wilcoxon)."""
    return paired_errors(this, baseline) if task.comparison == "errors" else paired_correct(this, baseline)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: the k-th smallest of m is multiplied by m - k + 1, kept monotone."""
    p_values = np.asarray(p_values, dtype=float)
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p_values[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def against_best(task: Task, scores: dict[str, float], per_review: dict[str, np.ndarray], lower: bool) -> dict:
    """Every setting against the best by its score (lowest where lower): the paired difference in the per-review
    measure (correctness, or absolute error) with its 95% interval and test, Holm's adjusted p over the other
    settings, and whether it is not distinguishable from the best at 5% (the best itself is)."""
    known = {name: score for name, score in scores.items() if score == score}
    if not known:
        return {}
    best = (min if lower else max)(known, key=known.get)
    out = {}
    for name in scores:
        stats = paired(task, per_review[name], per_review[best])
        diff = "mae_diff" if "mae_diff" in stats else "accuracy_diff"
        p_value = stats.get("wilcoxon_p", stats.get("mcnemar_p"))
        out[name] = {"best": best, "best_diff": stats[diff], "best_diff_low": stats["diff_low"],
                     "best_diff_high": stats["diff_high"], "best_p": 1.0 if name == best else p_value}  # fmt: skip
    others = [name for name in out if name != best]
    for name, adjusted in zip(others, holm([out[name]["best_p"] for name in others])):
        out[name]["best_p_holm"] = float(adjusted)
    out[best]["best_p_holm"] = 1.0
    for stats in out.values():
        stats["near_best"] = bool(stats["best_p_holm"] >= ALPHA)
    return out
