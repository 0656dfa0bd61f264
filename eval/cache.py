"""Logits of every distinct chunk scored so far, keyed by (the review's text, window) and kept on disk.

Strategies share chunks: head truncation is the first chunk of a chunking of the same size, and a
review that fits in one chunk gives the same chunk to every strategy. Scoring through this cache
runs each distinct chunk through the model once, and a stopped run resumes where it stopped.

On disk the cache is a folder of parts, one per save, each written atomically (temporary file, then
rename) with the fingerprint of the model it came from and a checksum of its arrays in the same
file. A part that cannot be read, fails its checksum or came from another model is removed and its
chunks are scored again; the other parts are kept. Keys hold a digest of the review's text, not its
position, so a part can never give one review's scores to another.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from longbert.chunking import Window
from longbert.files import write_atomic

MAX_RANGES = 2
Key = tuple[int, Window]  # (text digest, window)


def text_digest(text: str) -> int:
    """A 63-bit digest of a review's text: the review half of a cache key."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little") >> 1


def _flat(window: Window) -> tuple[int, ...]:
    ranges = [value for span in window for value in span]
    return tuple(ranges + [-1] * (2 * MAX_RANGES - len(ranges)))


def _checksum(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class ChunkCache:
    """(text digest, window) -> logits, in memory and, given a folder, in checksummed parts on disk.

    eval.run.CachedScorer puts it in front of the model scorer."""

    def __init__(self, directory: Path | None, fingerprint: dict, num_labels: int):
        self.directory = None if directory is None else Path(directory)
        self.fingerprint = fingerprint
        self.rows: dict[tuple[int, tuple[int, ...]], int] = {}
        self.parts: list[np.ndarray] = []
        self.logits = np.zeros((0, num_labels), dtype=np.float32)
        self.unsaved: list[Key] = []
        self.damaged: list[str] = []
        if self.directory is not None and self.directory.is_dir():
            for part in sorted(self.directory.glob("part-*.npz")):
                self._load(part)
            if self.damaged:
                names = ", ".join(self.damaged)
                print(f"eval: cache parts {names} damaged or stale: their chunks are scored again", file=sys.stderr)
        self.loaded = len(self.rows)

    def _load(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                about = json.loads(str(data["about"]))
                digests, ranges, logits = data["digest"], data["ranges"], data["logits"]
            valid = (
                about["fingerprint"] == self.fingerprint
                and about["checksum"] == _checksum(digests, ranges, logits)
                and logits.shape[1:] == self.logits.shape[1:]
                and len(digests) == len(ranges) == len(logits)
            )
        except Exception:  # a truncated or overwritten file: numpy, zipfile and json raise many types
            valid = False
        if not valid:
            self.damaged.append(path.name)
            path.unlink(missing_ok=True)
            return
        start = len(self.logits)
        for offset, key in enumerate(zip(digests.tolist(), map(tuple, ranges.tolist()))):
            self.rows[key] = start + offset
        self.logits = np.concatenate([self.logits, logits.astype(np.float32)])

    def __len__(self) -> int:
        return len(self.rows)

    def has(self, key: Key) -> bool:
        """Whether a review's window is scored already."""
        return (key[0], _flat(key[1])) in self.rows

    def add(self, keys: list[Key], logits: np.ndarray) -> None:
        start = len(self.logits)
        for offset, (digest, window) in enumerate(keys):
            self.rows[(digest, _flat(window))] = start + offset
        self.logits = np.concatenate([self.logits, np.asarray(logits, dtype=np.float32)])
        self.unsaved += keys

    def get_keys(self, keys: list[Key]) -> np.ndarray:
        """Logits of (text digest, window) keys, in order."""
        return self.logits[[self.rows[(digest, _flat(w))] for digest, w in keys]].reshape(len(keys), -1)

    def save(self) -> None:
        """Write the chunks added since the last save as a new part; in memory only without a folder."""
        if self.directory is None or not self.unsaved:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        digests = np.array([digest for digest, _ in self.unsaved], dtype=np.int64)
        ranges = np.array([_flat(w) for _, w in self.unsaved], dtype=np.int32).reshape(-1, 2 * MAX_RANGES)
        logits = self.get_keys(self.unsaved)
        about = json.dumps({"fingerprint": self.fingerprint, "checksum": _checksum(digests, ranges, logits)})
        number = 1 + max((int(p.stem.split("-")[1]) for p in self.directory.glob("part-*.npz")), default=0)
        arrays = {"digest": digests, "ranges": ranges, "logits": logits, "about": np.array(about)}
        write_atomic(self.directory / f"part-{number:05d}.npz", lambda path: _savez(path, arrays))
        self.unsaved = []


def _savez(path: Path, arrays: dict) -> None:
    with path.open("wb") as file:  # a file object: np.savez would add .npz to a path's name
        np.savez(file, **arrays)
