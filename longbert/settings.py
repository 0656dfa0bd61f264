"""The long-text settings saved beside a model (longbert.json), so loading restores the whole classifier."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from longbert.chunking import Chunking
from longbert.errors import LongbertError
from longbert.pooling import check_pooling

SETTINGS_FILE = "longbert.json"


@dataclass(frozen=True)
class Settings:
    """How a model reads long texts: its chunking, its pooling, and whether HTML tags are blanked out."""

    chunking: Chunking = field(default_factory=Chunking)
    pooling: str = "mean"
    clean_markup: bool = True

    def to_dict(self) -> dict:
        return {"chunking": asdict(self.chunking), "pooling": self.pooling, "clean_markup": self.clean_markup}

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        try:
            chunking = Chunking(**data.get("chunking", {}))
            settings = cls(chunking, check_pooling(data.get("pooling", "mean")), bool(data.get("clean_markup", True)))
        except TypeError as error:
            raise LongbertError(f"invalid {SETTINGS_FILE}: {error}") from error
        chunking.validate()
        return settings


def save_settings(settings: Settings, directory: str | Path) -> None:
    """Write longbert.json into a model directory."""
    Path(directory, SETTINGS_FILE).write_text(json.dumps(settings.to_dict(), indent=2) + "\n")


def load_settings(directory: str | Path | None) -> Settings | None:
    """Read longbert.json from a model directory; None where there is none."""
    if directory is None or not Path(directory, SETTINGS_FILE).is_file():
        return None
    try:
        data = json.loads(Path(directory, SETTINGS_FILE).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise LongbertError(f"cannot read {Path(directory, SETTINGS_FILE)}: {error}") from error
    return Settings.from_dict(data)
