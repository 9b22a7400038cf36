"""Run a trainer's saved weights and its ONNX export on the same batch, for the tests that compare them."""

from __future__ import annotations

from typing import Any

import numpy as np


def torch_and_onnx(model: Any, result: dict[str, Any], batch: np.ndarray, input_name: str) -> tuple[Any, list[Any]]:
    """``model`` (an untrained instance of the architecture) filled with ``result["weights"]`` and
    run in eval mode on ``batch``, and ``result["onnx"]`` run on it by ONNX Runtime: (the torch
    output, as numpy; the ONNX outputs)."""
    import onnxruntime as ort
    import torch

    model.load_state_dict(torch.load(result["weights"]))
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(batch))
    reference = tuple(t.numpy() for t in out) if isinstance(out, tuple) else out.numpy()
    return reference, ort.InferenceSession(result["onnx"]).run(None, {input_name: batch})
