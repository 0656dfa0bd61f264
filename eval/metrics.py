"""Binary-classification metrics (scikit-learn), length buckets and paired significance against a baseline."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, brier_score_loss, confusion_matrix, f1_score, log_loss, roc_auc_score

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


def paired_comparison(labels: np.ndarray, positive: np.ndarray, baseline: np.ndarray) -> dict:
    """Accuracy difference against a baseline on the same reviews: a paired 95% interval and McNemar's exact test."""
    labels = np.asarray(labels, dtype=int)
    right = (np.asarray(positive) >= 0.5).astype(int) == labels
    base_right = (np.asarray(baseline) >= 0.5).astype(int) == labels
    n = len(labels)
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
