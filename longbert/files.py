"""Files written whole or not at all: every file and directory longbert writes goes into place through here.

A file is written beside its target under a hidden temporary name and renamed over it; a directory is
written whole beside its target and swapped in. A process killed mid-write leaves the old file or
directory (or none), never a part of one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path


def write_atomic(
    path: str | Path, write: Callable[[Path], None], written: Callable[[Path], None] | None = None
) -> None:
    """Call write(temporary) on a hidden path beside `path`, then rename the finished file into place; written, if
    given, sees the finished temporary file first (to record its digest before the file can be found)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        if written is not None:
            written(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """A text file written whole (UTF-8)."""
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def copy_atomic(source: str | Path, target: str | Path) -> None:
    """A copy of a file that appears at target whole."""
    write_atomic(target, lambda p: shutil.copyfile(source, p))


def move_files(staging: Path, out: Path, files: Iterable[Path]) -> None:
    """Rename files of a staging directory to the same relative places under out, in the order given."""
    for path in files:
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def replace_dir(staging: Path, out: Path) -> None:
    """Put a completely written staging directory in out's place; out's old contents go."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, out)


def fresh_dir(path: Path) -> Path:
    """An empty directory at path (whatever an earlier, interrupted write left there is removed)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def cache_dir(kind: str) -> Path:
    """Where longbert keeps something between runs (converted models, a local Ray cluster's processes):
    $LONGBERT_CACHE/kind, else ~/.cache/longbert/kind (XDG_CACHE_HOME honoured)."""
    if os.environ.get("LONGBERT_CACHE"):
        return Path(os.environ["LONGBERT_CACHE"]) / kind
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "longbert" / kind
