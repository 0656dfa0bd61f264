"""Logits of every distinct chunk scored so far, keyed by (review, window) and kept on disk.

Strategies share chunks: head truncation is the first chunk of a chunking of the same size, and a
review that fits in one chunk gives the same chunk to every strategy. Scoring through this cache
runs each distinct chunk through the model once, and a stopped run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from longbert.chunking import Window

MAX_RANGES = 2


def _flat(window: Window) -> tuple[int, ...]:
    ranges = [value for span in window for value in span]
    return tuple(ranges + [-1] * (2 * MAX_RANGES - len(ranges)))


class ChunkCache:
    """(review, window) -> logits, saved as one .npz beside a fingerprint of the model and the reviews.

    eval.run.CachedScorer puts it in front of the model scorer."""

    def __init__(self, path: Path | None, fingerprint: dict, num_labels: int):
        self.path = None if path is None else Path(path)
        self.fingerprint = fingerprint
        self.rows: dict[tuple[int, tuple[int, ...]], int] = {}
        self.logits = np.zeros((0, num_labels), dtype=np.float32)
        self.loaded = 0
        manifest = None if path is None else self.path.with_suffix(".json")
        if manifest and self.path.is_file() and manifest.is_file() and json.loads(manifest.read_text()) == fingerprint:
            data = np.load(self.path)
            self.logits = data["logits"]
            for row, (review, flat) in enumerate(zip(data["review"].tolist(), map(tuple, data["ranges"].tolist()))):
                self.rows[(review, flat)] = row
            self.loaded = len(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def has(self, review: int, window: Window) -> bool:
        """Whether a review's window is scored already."""
        return (review, _flat(window)) in self.rows

    def add(self, keys: list[tuple[int, Window]], logits: np.ndarray) -> None:
        start = len(self.logits)
        for offset, (review, window) in enumerate(keys):
            self.rows[(review, _flat(window))] = start + offset
        self.logits = np.concatenate([self.logits, np.asarray(logits, dtype=np.float32)])

    def get_keys(self, keys: list[tuple[int, Window]]) -> np.ndarray:
        """Logits of (review, window) keys, in order."""
        return self.logits[[self.rows[(review, _flat(w))] for review, w in keys]].reshape(len(keys), -1)

    def save(self) -> None:
        """Write atomically, so a run stopped mid-write keeps the previous cache; in memory only without a path."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.rows)
        order = [self.rows[k] for k in keys]
        temporary = self.path.with_name(self.path.stem + ".tmp.npz")
        np.savez(
            temporary,
            review=np.array([k[0] for k in keys], dtype=np.int32),
            ranges=np.array([k[1] for k in keys], dtype=np.int32).reshape(-1, 2 * MAX_RANGES),
            logits=self.logits[order] if keys else self.logits,
        )
        os.replace(temporary, self.path)
        self.path.with_suffix(".json").write_text(json.dumps(self.fingerprint))
