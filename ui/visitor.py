"""What one visitor made on this server: the results sets of their runs (with the files to download) and the true
labels of the reviews in them. Each visitor's alone, by their page session: no other session's pickers list them or
can open them; they go when the page closes (Blocks.unload), and at the latest config.KEEP_VISITOR_S after they
were made."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from eval.results import Results
from ui import config

ROOT = Path(tempfile.gettempdir()) / "longbert-visitors"  # under the temp directory, where Gradio serves files from
PREFIX = "yours: "  # every visitor set's label starts so: no committed set's label does


@dataclass
class Kept:
    """One visitor set: its results, the directory holding its files, its reviews' (class id, review_id) by text key
    (ui.truth.set_labels) and when it was made."""

    results: Results
    directory: Path
    truths: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    made: float = field(default_factory=time.monotonic)


_kept: dict[str, dict[str, Kept]] = {}
_lock = threading.Lock()
_sweeper: threading.Thread | None = None


def session_of(request) -> str:
    """A request's page session ("direct" for a handler called from Python)."""
    return getattr(request, "session_hash", None) or "direct"


def fresh_directory(session: str) -> Path:
    """A new, empty directory for one of a session's sets."""
    ROOT.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{abs(hash(session)) % 10**8}-", dir=ROOT))


def keep(session: str, label: str, results: Results, directory: Path, truths: dict | None = None) -> str:
    """Keep a session's set under label (a repeated label gets a number); returns the label used."""
    start_sweeping()
    label = label if label.startswith(PREFIX) else PREFIX + label
    with _lock:
        sets = _kept.setdefault(session, {})
        used, n = label, 2
        while used in sets:
            used, n = f"{label} ({n})", n + 1
        sets[used] = Kept(results, directory, truths or {})
    return used


def sets_of(session: str) -> dict[str, Kept]:
    """A session's sets, newest last (those older than the keeping time are gone first)."""
    sweep()
    with _lock:
        return dict(_kept.get(session, {}))


def truth_of(session: str, text_key: str) -> int | None:
    """The true class id of a review in one of the session's sets, by its text's key (ui.truth.key)."""
    for kept in reversed(sets_of(session).values()):
        if text_key in kept.truths:
            return kept.truths[text_key][0]
    return None


def forget(request=None) -> None:
    """Blocks.unload: the page closed, so its session's sets and their files go."""
    with _lock:
        gone = _kept.pop(session_of(request), {})
    for kept in gone.values():
        shutil.rmtree(kept.directory, ignore_errors=True)


def sweep(now: float | None = None) -> int:
    """Drop every set older than config.KEEP_VISITOR_S, files and all; returns how many went."""
    now = time.monotonic() if now is None else now
    gone = []
    with _lock:
        for session, sets in list(_kept.items()):
            for label, kept in list(sets.items()):
                if now - kept.made > config.KEEP_VISITOR_S:
                    gone.append(sets.pop(label))
            if not sets:
                del _kept[session]
    for kept in gone:
        shutil.rmtree(kept.directory, ignore_errors=True)
    return len(gone)


def start_sweeping(every: float = 60.0) -> None:
    """A daemon thread that sweeps once a minute, so a set goes on time even if nobody asks for sets again."""
    global _sweeper
    with _lock:
        if _sweeper is not None and _sweeper.is_alive():
            return

        def loop() -> None:
            while True:
                time.sleep(every)
                sweep()

        _sweeper = threading.Thread(target=loop, name="visitor sets sweeper", daemon=True)
        _sweeper.start()
