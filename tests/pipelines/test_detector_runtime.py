"""Decoding the detector's ONNX output back to photo coordinates, and NMS."""

from __future__ import annotations

import numpy as np
from PIL import Image

from models.detector import CardDetector, letterbox, nms


def test_letterbox_and_decode_map_back_to_photo_pixels() -> None:
    photo = Image.new("RGB", (1280, 960), (10, 20, 30))
    tensor, scale, pad = letterbox(photo, 416)
    assert tensor.shape == (3, 416, 416) and scale == 416 / 1280 and pad == (0.0, (416 - 312) / 2)
    corners = np.array([[100, 200], [300, 210], [290, 500], [95, 490]], float)  # in the photo
    box = np.array([95, 200, 300, 500], float)
    out = np.zeros((17, 3), np.float32)
    lb = box * scale + [pad[0], pad[1], pad[0], pad[1]]
    out[:5, 0] = [(lb[0] + lb[2]) / 2, (lb[1] + lb[3]) / 2, lb[2] - lb[0], lb[3] - lb[1], 0.9]
    out[5:, 0] = np.c_[corners * scale + pad, np.ones(4)].ravel()
    out[:5, 1] = out[:5, 0] + [2, 1, 0, 0, -0.1]  # a near duplicate with a lower score
    out[5:, 1] = out[5:, 0]
    out[4, 2] = 0.1  # below the confidence threshold
    detections = CardDetector._decode(out, scale, pad, conf=0.25, iou=0.6)
    assert len(detections) == 1
    np.testing.assert_allclose(detections[0].corners, corners, atol=1e-3)
    np.testing.assert_allclose(detections[0].box, box, atol=1e-3)


def test_nms_keeps_separate_cards() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5) == [0, 2]
