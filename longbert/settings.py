"""The long-text settings saved beside a model (longbert.json), so loading restores the whole classifier."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from longbert.chunking import Chunking, Strategy, parse_strategy
from longbert.errors import LongbertError
from longbert.pooling import check_pooling
from longbert.tasks import check_threshold

SETTINGS_FILE = "longbert.json"


@dataclass(frozen=True)
class Settings:
    """How a model reads long texts: its strategy (any kind), its pooling, whether HTML tags are blanked out,
    the multi-label decision threshold and (for task types transformers does not know) the task's name.
    Validated when made."""

    strategy: Strategy = field(default_factory=Chunking)
    pooling: str = "mean"
    clean_markup: bool = True
    threshold: float = 0.5
    task: str | None = None  # a task type's name, where the model's config cannot say it (register_task)

    def __post_init__(self) -> None:
        check_pooling(self.pooling)
        check_threshold(self.threshold)

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy.name,
            "pooling": self.pooling,
            "clean_markup": self.clean_markup,
            "threshold": self.threshold,
        } | ({"task": self.task} if self.task else {})

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        """Read a saved dict; the older {"chunking": {chunk_size, stride, minimal_chunk_size}} form too."""
        try:
            if "strategy" in data:
                strategy = parse_strategy(str(data["strategy"]))
            else:
                strategy = Chunking(**data.get("chunking", {}))
            return cls(
                strategy,
                data.get("pooling", "mean"),
                bool(data.get("clean_markup", True)),
                data.get("threshold", 0.5),
                data.get("task"),
            )
        except (TypeError, AttributeError) as error:
            raise LongbertError(f"invalid {SETTINGS_FILE}: {error}") from error


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
    if not isinstance(data, dict):
        raise LongbertError(f"invalid {SETTINGS_FILE}: expected a JSON object")
    return Settings.from_dict(data)
