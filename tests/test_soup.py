"""scripts/gpu/soup.py averages fine-tuned models' weights and records how, for the model card."""

import importlib.util
import json
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from conftest import save_tiny_model
from safetensors.torch import load_file

from longbert.training import TrainConfig

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def soup():
    spec = importlib.util.spec_from_file_location("soup", ROOT / "scripts" / "gpu" / "soup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trained(directory: Path, seed: int, epochs: int) -> Path:
    save_tiny_model(directory, seed=seed)
    (directory / "README.md").write_text("a candidate's own card\n")
    history = [{"epoch": e, "train_loss": 0.5, "seconds": 1.0} for e in range(1, epochs + 1)]
    record = {"command": f"longbert train --epochs {epochs}", "config": asdict(TrainConfig(epochs=epochs)),
              "history": history, "saved_epoch": epochs, "train_texts": 190, "validation_texts": 10}  # fmt: skip
    (directory / "training.json").write_text(json.dumps(record))
    return directory


def test_soup_is_the_mean_of_the_weights_and_records_every_model(tmp_path, soup, monkeypatch):
    parts = [trained(tmp_path / "a", seed=0, epochs=2), trained(tmp_path / "b", seed=1, epochs=3)]
    out = tmp_path / "soup"
    monkeypatch.setattr(sys, "argv", ["soup.py", "--data", "sample", "--out", str(out), *map(str, parts)])
    soup.main()
    a, b, mean = (load_file(p / "model.safetensors") for p in (*parts, out))
    assert a.keys() == mean.keys()
    for key in mean:
        assert mean[key].dtype == a[key].dtype
        if a[key].is_floating_point():
            torch.testing.assert_close(mean[key], (a[key] + b[key]) / 2)
        else:
            assert torch.equal(mean[key], a[key])
    record = json.loads((out / "training.json").read_text())
    assert [p["name"] for p in record["soup_of"]] == ["a", "b"]
    assert [p["saved_epoch"] for p in record["soup_of"]] == [2, 3]
    assert record["command"].startswith("python scripts/gpu/soup.py --data sample --out ")
    assert record["saved_epoch"] == "soup" and record["train_texts"] == 190
    assert 0 <= record["history"][0]["validation_accuracy"] <= 1
    assert not (out / "README.md").exists()  # the card is regenerated for the soup, not copied
