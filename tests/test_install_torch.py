"""scripts/install_torch.py: a CPU build from the configured index without asking PyTorch's, an unreachable index
asked once with a short timeout, and the index that served named."""

import importlib.util
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install_torch.py"


def loaded():
    spec = importlib.util.spec_from_file_location("install_torch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_pip(offers: dict):
    calls = []

    def pip(*args, capture=False):
        calls.append(args)
        index = args[args.index("--index-url") + 1] if "--index-url" in args else None
        versions = offers.get(index)
        out = f"torch (x)\nAvailable versions: {', '.join(versions)}\n" if versions else ""
        return subprocess.CompletedProcess(args, 0 if versions or args[0] == "install" else 1, out, "")

    return pip, calls


def test_the_configured_index_serves_without_asking_pytorchs(monkeypatch, capsys):
    script = loaded()
    pip, calls = fake_pip({None: ["2.13.0+cpu", "2.13.0", "2.3.0+cpu"]})
    monkeypatch.setattr(script, "pip", pip)
    assert script.newest_cpu_build() == ("2.13.0+cpu", None)
    assert len(calls) == 1 and "--index-url" not in calls[0]
    assert calls[0][-4:] == ("--timeout", "5", "--retries", "0"), "one short try"


def test_an_unreachable_index_is_asked_once_and_the_serving_index_is_said(monkeypatch, capsys):
    script = loaded()
    pip, calls = fake_pip({script.CPU_INDEX: ["2.12.0+cpu"]})
    monkeypatch.setattr(script, "pip", pip)
    monkeypatch.delenv("TORCH", raising=False)
    monkeypatch.setattr(script.importlib.metadata, "version", lambda name: (_ for _ in ()).throw(
        script.importlib.metadata.PackageNotFoundError(name)))  # fmt: skip
    monkeypatch.setattr(script, "has_nvidia_gpu", lambda: False)
    monkeypatch.setattr(script.platform, "system", lambda: "Linux")
    assert script.install() == 0
    asked = [c for c in calls if c[0] == "index"]
    assert len(asked) == 2, "the configured indexes, then PyTorch's once"
    assert "torch 2.12.0+cpu from https://download.pytorch.org/whl/cpu" in capsys.readouterr().err
    assert calls[-1][:2] == ("install", "torch==2.12.0+cpu")
