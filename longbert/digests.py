"""Content, not names: digests of what longbert reuses or resumes, so a changed input, retrained weights or a
damaged file is noticed instead of trusted. One helper for collections, the evaluation cache, and the converted
models of the int8 and OpenVINO paths (cached_build)."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import torch

from longbert.files import copy_atomic, write_text_atomic

T = TypeVar("T")

BLOCK = 1 << 20


def digest(pieces: Iterable[bytes]) -> str:
    """A hex digest (BLAKE2b, 128 bits) of byte strings in order."""
    hashed = hashlib.blake2b(digest_size=16)
    for piece in pieces:
        hashed.update(piece)
    return hashed.hexdigest()


def file_digest(path: str | Path) -> str:
    """A digest of a file's bytes, read a block at a time."""
    with Path(path).open("rb") as file:
        return digest(iter(lambda: file.read(BLOCK), b""))


def weights_digest(model: torch.nn.Module) -> str:
    """A digest of a model's weights (names and values, as float32) and config: what its outputs depend on."""

    def pieces() -> Iterable[bytes]:
        for name, tensor in model.state_dict().items():
            yield name.encode()
            yield tensor.detach().float().contiguous().cpu().numpy().tobytes()
        yield model.config.to_json_string().encode()

    return digest(pieces())


def input_names(files: Iterable[Path]) -> str:
    """A digest of input files' resolved paths: which input a collection reads (its content is checked a part at a
    time, rows_digest)."""
    return digest(f"{p.resolve()}\n".encode() for p in files)


def rows_digest(ids: Iterable, texts: Iterable) -> str:
    """A digest of rows' ids and texts (what a row that is not a text says instead): a part's input, so a resume
    redoes a part whose rows changed, whatever the file's size or modification time."""

    def pieces() -> Iterable[bytes]:
        for identifier, text in zip(ids, texts):
            yield repr(identifier).encode("utf-8", "surrogatepass") + b"\0"
            shown = text if isinstance(text, str) else repr(text)
            yield shown.encode("utf-8", "surrogatepass") + b"\1"

    return digest(pieces())


def files_digest(paths: Iterable[Path]) -> str:
    """The digests of files, one a line (one file's is its file_digest)."""
    return "\n".join(file_digest(path) for path in paths)


def cached_build(cached: Path, build: Callable[[Path], Path], load: Callable[[Path], T], *,
                 companions: tuple[str, ...] = (), prefix: str = "longbert-") -> T:  # fmt: skip
    """load(file) of a file built once and kept at `cached` (with its companions: the same name with those suffixes),
    trusted only while the digest written beside it matches them; else build(directory) returns it built afresh in
    a temporary directory, it is loaded and kept (an unwritable cache only costs the next load its build)."""
    recorded = cached.with_suffix(".digest")
    kept = [cached, *(cached.with_suffix(suffix) for suffix in companions)]
    with contextlib.suppress(OSError, RuntimeError):  # none, damaged, replaced or unreadable: built again
        if recorded.read_text().strip() == files_digest(kept):
            return load(cached)
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        built = build(Path(directory))
        loaded = load(built)
        made = [built, *(built.with_suffix(suffix) for suffix in companions)]
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            for source, target in zip(made[1:], kept[1:]):
                copy_atomic(source, target)
            copy_atomic(built, cached)
            write_text_atomic(recorded, files_digest(made) + "\n")
        return loaded
