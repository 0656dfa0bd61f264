"""Average the weights of fine-tuned candidates (a uniform model soup) and score it on their validation split.

The candidates must share a base model, a seed (so the same head initialisation and validation
split) and the training data. The soup is saved like a trained model; its training.json records
the command, each candidate's own training record (`soup_of`) and the soup's validation scores.
Runs wherever longbert imports (from the repository root: PYTHONPATH=. where longbert is not installed).
Usage: python scripts/gpu/soup.py --data DATA --out DIR CANDIDATE_DIR [CANDIDATE_DIR ...]
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from longbert import LongTextClassifier
from longbert.chunking import Chunking
from longbert.data import load_imdb
from longbert.loading import load_pretrained
from longbert.runtime import describe_device
from longbert.training import TrainConfig, split_validation, validation_scores


def average(paths: list[Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the floating-point tensors of several safetensors files, in their dtype."""
    states = [load_file(p / "model.safetensors") for p in paths]
    out = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            out[key] = torch.stack([s[key].float() for s in states]).mean(0).to(first.dtype)
        else:
            out[key] = first
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="their training data: imdb (the Hub), a directory or a file")
    parser.add_argument("--out", required=True)
    parser.add_argument("candidates", nargs="+")
    args = parser.parse_args()
    paths, out = [Path(c) for c in args.candidates], Path(args.out)
    records = [json.loads((p / "training.json").read_text()) for p in paths]
    config = TrainConfig(**{**records[0]["config"], "chunking": Chunking(**records[0]["config"]["chunking"])})
    shutil.copytree(paths[0], out, dirs_exist_ok=True)
    save_file(average(paths), out / "model.safetensors", metadata={"format": "pt"})
    source = None if args.data == "imdb" else args.data
    _, validation = split_validation(load_imdb("train", source), config.validation_fraction, config.seed)
    model, tokenizer, settings = load_pretrained(out)
    classifier = LongTextClassifier(model, tokenizer, settings=settings, precision=config.precision)
    targets = validation["label"].to_numpy()
    scores = validation_scores(classifier, validation["text"].tolist(), targets, config)
    scores = {f"validation_{k}": v for k, v in scores.items()}
    per_run = ("command", "history", "saved_epoch", "processes", "rank_checksums", "config")
    record = {k: v for k, v in records[0].items() if k not in per_run} | {
        "command": "python scripts/gpu/soup.py " + shlex.join(sys.argv[1:]),
        "config": records[0]["config"],
        "soup_of": [{"name": p.name, **r} for p, r in zip(paths, records)],
        "history": [{"epoch": "soup", **scores}],
        "saved_epoch": "soup",
        "soup_device": describe_device(classifier.device),
    }
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "README.md").unlink(missing_ok=True)  # a candidate's card; python -m eval.model_card writes the soup's
    print(json.dumps({"soup_of": [p.name for p in paths], **scores}))


if __name__ == "__main__":
    main()
