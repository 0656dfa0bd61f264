"""The CPU engines other than torch, one module each behind one small interface, found by name in ENGINES.

An engine module has INSTALL_HINT (how to install what it needs), available() (whether it can run here),
precision() (what it computes in: "int8", "bf16", "f32") and runner(model, special) -> run(input_ids,
attention_mask) -> logits on numpy arrays, which longbert.scoring.ArrayScorer batches like torch's scoring.
Adding an engine is a module in this package and a line in ENGINES. Modules are imported only when an engine is
used (each is an optional extra), so nothing here imports the rest of longbert.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass

from longbert.errors import LongbertError


@dataclass(frozen=True)
class Engine:
    """A CPU engine: its name (in results and JSON lines), the --precision value that asks for it, its module and
    the name people know it by."""

    name: str
    precision: str
    module: str
    label: str

    def load(self):
        """The engine's module (LongbertError with INSTALL_HINT where its packages are missing)."""
        return importlib.import_module(self.module)

    def available(self) -> bool:
        with contextlib.suppress(LongbertError, ImportError):
            return bool(self.load().available())
        return False

    def runner(self, model, special):
        return self.load().runner(model, special)

    def describe(self) -> str:
        """What it computes in and what it is, such as 'bf16 (OpenVINO)'."""
        return f"{self.load().precision()} ({self.label})"


ENGINES = {
    engine.precision: engine
    for engine in (
        Engine("onnxruntime", "int8", "longbert.engines.onnx_int8", "ONNX Runtime"),
        Engine("openvino", "openvino", "longbert.engines.openvino", "OpenVINO"),
    )
}


def engine_named(name: str) -> Engine:
    """The engine of that name (Runtime.engine)."""
    for engine in ENGINES.values():
        if engine.name == name:
            return engine
    known = ", ".join(e.name for e in ENGINES.values())
    raise LongbertError(f"unknown engine {name!r}: the engines are torch, {known}")
