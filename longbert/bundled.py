"""Where the default model lives: $LONGBERT_MODEL if set, else the fine-tuned model shipped in the package."""

from __future__ import annotations

import os
from pathlib import Path

from longbert.errors import LongbertError

BUNDLED_MODEL_DIR = Path(__file__).parent / "model"


def default_model() -> str:
    """The model used when none is named: $LONGBERT_MODEL (a directory or Hub id), else the bundled one."""
    if os.environ.get("LONGBERT_MODEL"):
        return os.environ["LONGBERT_MODEL"]
    if (BUNDLED_MODEL_DIR / "config.json").is_file():
        return str(BUNDLED_MODEL_DIR)
    raise LongbertError(
        "no model given and no bundled default model is installed: pass --model DIR_OR_HUB_ID or set LONGBERT_MODEL"
    )
