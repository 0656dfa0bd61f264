"""What each way of installing the app brings: `make app` (the app extra), the Space (requirements.txt) and `make
test` (the dev extra) install the same CPU engines and MCP, so `auto` picks the same engine after any of them."""

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
ENGINE_PACKAGES = {"onnxruntime", "onnx", "openvino", "mcp"}


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!\[; ]", line.strip(), maxsplit=1)[0].lower() for line in requirements if line.strip()}


def extra(name: str, seen: set | None = None) -> set[str]:
    """The packages an extra of longbert brings, its own extras followed."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    seen = seen or set()
    found = set()
    for requirement in extras[name]:
        if requirement.startswith("longbert["):
            for inner in requirement[len("longbert[") : -1].split(","):
                if inner not in seen:
                    seen.add(inner)
                    found |= extra(inner, seen)
        else:
            found |= names([requirement])
            if requirement.startswith("gradio[mcp]"):
                found.add("mcp")
    return found


def test_make_app_the_space_and_make_test_install_the_same_engines():
    space = names([line for line in (ROOT / "requirements.txt").read_text().splitlines()
                   if line.strip() and not line.startswith(("#", "-"))])  # fmt: skip
    app, dev = extra("app"), extra("dev")
    assert app >= ENGINE_PACKAGES, ENGINE_PACKAGES - app
    assert app & ENGINE_PACKAGES == dev & ENGINE_PACKAGES == space & ENGINE_PACKAGES
