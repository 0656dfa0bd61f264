"""Content, not names: digests of what longbert reuses or resumes, so a changed input, retrained weights or a
damaged file is noticed instead of trusted. One helper for collections, the evaluation cache and the int8 cache."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import torch

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


def input_identity(files: Iterable[Path]) -> str:
    """A digest of input files' paths, sizes and modification times: cheap, and changed by any edit or swap."""
    return digest(f"{p.resolve()}\0{p.stat().st_size}\0{p.stat().st_mtime_ns}\n".encode() for p in files)
