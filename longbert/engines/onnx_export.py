"""The model as an ONNX graph of (input_ids, attention_mask) -> logits: what the ONNX Runtime and OpenVINO engines
start from."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from longbert.encoding import SpecialTokens
from longbert.scoring import collate


class _Logits(torch.nn.Module):
    """The model as a function of (input_ids, attention_mask) returning logits, which is what ONNX export traces."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_onnx(model: torch.nn.Module, special: SpecialTokens, path: Path) -> Path:
    """The float32 model as an ONNX graph of (input_ids, attention_mask) -> logits, batch and width dynamic."""
    example = collate([np.arange(5) + 1000, np.arange(2) + 1000], special)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings are about branches that do not depend on the shapes
        torch.onnx.export(
            _Logits(model.float().eval()),
            example,
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "width"}, "attention_mask": {0: "batch", 1: "width"}},
            opset_version=17,
            dynamo=False,
        )
    return path
