"""Metrics for every task type (scikit-learn, scipy), length buckets and paired significance against a baseline.

- single-label: accuracy with a Wilson interval, F1 (macro for 3+ classes), ROC-AUC, log-loss, Brier;
- multi-label: micro and macro F1, subset accuracy, Hamming loss, ROC-AUC per label and its mean;
- regression: MAE, RMSE, R², Spearman and Pearson correlation.
Paired comparisons: per-review correctness (exact label set for multi-label) with McNemar's exact test,
or per-review absolute error with the Wilcoxon signed-rank test (regression).
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

from longbert.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL

# The metric each task type is ranked by.
PRIMARY = {SINGLE_LABEL: "accuracy", MULTI_LABEL: "micro_f1", REGRESSION: "mae"}

BUCKETS = ("<=510", "511-1024", ">1024")
Z95 = 1.959963984540054


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


def paired_comparison(labels: np.ndarray, positive: np.ndarray, baseline: np.ndarray) -> dict:
    """Accuracy difference of binary positive-class probabilities against a baseline's (see paired_correct)."""
    labels = np.asarray(labels, dtype=int)
    right = (np.asarray(positive) >= 0.5).astype(int) == labels
    return paired_correct(right, (np.asarray(baseline) >= 0.5).astype(int) == labels)


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


def task_metrics(kind: str, targets: np.ndarray, outputs: np.ndarray, threshold: float = 0.5) -> dict:
    """The metrics of a task type for pooled outputs [n, C] against targets (labels, multi-hot rows or values)."""
    if kind == REGRESSION:
        return regression_metrics(targets, outputs[:, 0])
    if kind == MULTI_LABEL:
        return multi_label_metrics(targets, outputs, threshold)
    if outputs.shape[1] == 2:
        return binary_metrics(targets, outputs[:, 1])
    return class_metrics(targets, outputs)


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """Each review's class: P(class 1) >= 0.5 for two classes (as binary_metrics decides), else the argmax."""
    return (outputs[:, 1] >= 0.5).astype(int) if outputs.shape[1] == 2 else outputs.argmax(1)


def per_review(kind: str, targets: np.ndarray, outputs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """What paired comparisons compare: whether each review is right (its exact label set for multi-label),
    or its absolute error (regression)."""
    if kind == REGRESSION:
        return np.abs(outputs[:, 0] - np.asarray(targets, dtype=float).ravel())
    if kind == MULTI_LABEL:
        return ((outputs >= threshold) == (np.asarray(targets) > 0.5)).all(1)
    return predicted_classes(outputs) == np.asarray(targets)


def paired(kind: str, this: np.ndarray, baseline: np.ndarray) -> dict:
    """A setting's per_review() values against the baseline's on the same reviews."""
    return paired_errors(this, baseline) if kind == REGRESSION else paired_correct(this, baseline)


def decisions(kind: str, outputs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Each review's answer as one comparable value: the class, the label set as bits, or the rounded value."""
    if kind == REGRESSION:
        return np.round(outputs[:, 0]).astype(np.int64)
    if kind == MULTI_LABEL:
        return ((outputs >= threshold).astype(np.int64) << np.arange(outputs.shape[1])).sum(1)
    return predicted_classes(outputs)
