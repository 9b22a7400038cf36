"""Smaller exports of a shipped model (the corner network): fp16 agrees with fp32, int8 runs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from models.corners import CANVAS_H, CANVAS_W, canvases
from pipelines.export import compare, to_fp16, to_int8

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "corners" / "corners.onnx"


def _canvases() -> np.ndarray:
    """A light card on a darker, noisy table, cut around eight slightly wrong outlines."""
    rng = np.random.default_rng(0)
    photo = (rng.random((480, 640, 3)) * 60 + 50).astype(np.uint8)
    card = np.array([[250.0, 100.0], [400.0, 110.0], [390.0, 320.0], [240.0, 310.0]])
    cv2.fillConvexPoly(photo, card.astype(np.int32), (235, 220, 90))
    quads = [card + rng.normal(0, 6, (4, 2)) for _ in range(8)]
    batch, _ = canvases(photo, quads)
    return batch


def test_corner_network_exports_to_fp16_and_int8(tmp_path: Path) -> None:
    inputs = _canvases()
    half = to_fp16(SHIPPED, tmp_path / "corners.fp16.onnx")
    measured = compare(SHIPPED, half, inputs, runs=1)
    assert measured["max_abs_diff"] < 0.5  # canvas pixels
    assert measured["bytes_candidate"] < 0.6 * measured["bytes_fp32"]
    eight = to_int8(SHIPPED, tmp_path / "corners.int8.onnx", inputs, input_name="canvas", symbolic_shapes=False)
    session = ort.InferenceSession(str(eight), providers=["CPUExecutionProvider"])
    corners = session.run(None, {"canvas": inputs})[0]
    assert corners.shape == (8, 4, 2) and np.isfinite(corners).all()
    assert ((corners >= 0) & (corners <= [CANVAS_W, CANVAS_H])).all()
