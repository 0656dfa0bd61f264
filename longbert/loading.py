"""Load a sequence-classification model, its tokenizer and its long-text settings from a directory or Hub id.

Every failure becomes one LongbertError line: a missing or broken directory, an unknown Hub id,
or a Hub that cannot be reached (checked in seconds, instead of minutes of retries).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from longbert.errors import LongbertError, first_line
from longbert.settings import SETTINGS_FILE, Settings, load_settings

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_ROBERTA_LIKE = ("roberta", "camembert", "longformer", "bart")


def max_sequence_length(tokenizer, config) -> int:
    """Most tokens, special ones included, the model accepts: from the tokenizer and the position table."""
    limits = []
    if 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        # RoBERTa-style position ids start after the padding index, so two table rows are never used.
        offset = 2 if any(k in (config.model_type or "") for k in _ROBERTA_LIKE) else 0
        limits.append(int(positions) - offset)
    if not limits:
        raise LongbertError("cannot tell the model's maximum input length")
    return min(limits)


def check_tokenizer(tokenizer, config, name: str) -> None:
    """Refuse a tokenizer far smaller than the model's vocabulary: transformers builds a 5-token one from a
    directory that lacks its tokenizer files, and every word then becomes the unknown token."""
    vocabulary = getattr(config, "vocab_size", None) or 0
    if len(tokenizer) * 2 < vocabulary:
        raise LongbertError(
            f"the tokenizer of {name} has {len(tokenizer):,} tokens but the model's vocabulary has {vocabulary:,}: "
            "its tokenizer files (tokenizer.json, or vocab.txt / vocab.json) are missing"
        )


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub (or $HF_ENDPOINT) answers a TCP connection; False when HF_HUB_OFFLINE is set."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("", "0", "false", "no"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Mute transformers' and the Hub's warnings and progress bars (checks of their own give one-line errors)."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    verbosity, hub_verbosity = hf_logging.get_verbosity(), hub_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hub_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hub_logging.set_verbosity(hub_verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _load(source: str, local_files_only: bool, model_kwargs: dict):
    """(model, tokenizer, names of weights the checkpoint lacks, which from_pretrained initialized at random)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_files_only)
    model, info = AutoModelForSequenceClassification.from_pretrained(
        source, local_files_only=local_files_only, dtype=torch.float32, output_loading_info=True,
        trust_remote_code=False, **model_kwargs
    )  # fmt: skip
    return model, tokenizer, info["missing_keys"]


def _hub_settings(name: str, local_files_only: bool) -> Settings | None:
    from huggingface_hub import hf_hub_download

    try:
        return load_settings(Path(hf_hub_download(name, SETTINGS_FILE, local_files_only=local_files_only)).parent)
    except LongbertError:
        raise
    except Exception:  # a Hub model without longbert.json is a plain classifier: use the defaults
        return None


def _load_hub(name: str, model_kwargs: dict):
    try:
        cached = _load(name, True, model_kwargs)
    except Exception:  # not in the local cache: go to the Hub, if it can be reached
        cached = None
    if cached is not None:
        return *cached, _hub_settings(name, local_files_only=True)
    if not hub_reachable():
        raise LongbertError(
            f"cannot load model {name!r}: it is not a local directory or in the Hugging Face cache, "
            "and the Hub is not reachable (offline); pass a local model directory"
        )
    try:
        loaded = _load(name, False, model_kwargs)
    except Exception as error:  # transformers raises many types for one cause
        raise LongbertError(f"cannot load model {name!r} from the Hugging Face Hub: {first_line(error)}") from error
    return *loaded, _hub_settings(name, local_files_only=False)


def load_pretrained(name_or_path: str | Path, *, new_head: bool = False, **model_kwargs):
    """(model, tokenizer, saved settings or None) from a local model directory or a Hub id, in float32.

    A checkpoint without trained classification weights is refused unless new_head (training, which
    gives it a fresh head; model_kwargs such as num_labels and id2label go to from_pretrained).
    """
    name = str(name_or_path)
    local = Path(name).expanduser()
    if not local.is_dir() and (local.exists() or not _HUB_ID.match(name)):
        raise LongbertError(f"model directory not found: {name}")
    if local.is_dir() and not (local / "config.json").is_file():
        raise LongbertError(f"{name} is not a model directory: it has no config.json")
    with quiet_transformers():
        if not local.is_dir():
            model, tokenizer, missing, settings = _load_hub(name, model_kwargs)
        else:
            try:
                model, tokenizer, missing = _load(str(local), True, model_kwargs)
            except Exception as error:  # transformers raises many types for one cause
                raise LongbertError(f"cannot load the model in {name}: {first_line(error)}") from error
            settings = load_settings(local)
    check_tokenizer(tokenizer, model.config, name)
    if missing and not new_head:
        raise LongbertError(
            f"{name} has no trained classification head ({', '.join(sorted(missing)[:4])} not in the checkpoint), "
            "so its answers would be random: fine-tune it first (longbert train)"
        )
    return model, tokenizer, settings
