"""Run the card detector's ONNX export: letterbox, infer, decode boxes and corners, NMS.

Framework-free (numpy + onnxruntime): the Serve deployment and the evaluation both use it.
The export's output is (N, 4 + 1 + 4 * 3, anchors): box centre/size in input pixels, the card
score, then each corner's x, y and visibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from models.identify import session_options


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in photo pixels
    score: float
    corners: np.ndarray  # (4, 2): TL, TR, BR, BL of the card in photo pixels
    corner_visibility: np.ndarray  # (4,)


def letterbox(image: Image.Image, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    scale = size / max(image.size)
    w, h = round(image.width * scale), round(image.height * scale)
    canvas = Image.new("RGB", (size, size), (114, 114, 114))
    pad = ((size - w) / 2, (size - h) / 2)
    canvas.paste(
        image.convert("RGB").resize((w, h), Image.Resampling.BILINEAR), (round(pad[0] - 0.1), round(pad[1] - 0.1))
    )
    return np.asarray(canvas, np.float32).transpose(2, 0, 1) / 255, scale, pad


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    result: np.ndarray = inter / np.maximum(area - inter, 1e-9)
    return result


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    order = np.argsort(-scores)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        order = order[1:][_iou(boxes[i], boxes[order[1:]]) < iou]
    return keep


class CardDetector:
    def __init__(self, onnx: Path, *, imgsz: int = 416, providers: list[str] | None = None) -> None:
        available = ort.get_available_providers()
        wanted = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.session = ort.InferenceSession(str(onnx), session_options(), providers=wanted)
        self.input = self.session.get_inputs()[0].name
        self.imgsz = imgsz

    def __call__(self, images: list[Image.Image], *, conf: float = 0.25, iou: float = 0.6) -> list[list[Detection]]:
        batch, meta = [], []
        for image in images:
            tensor, scale, pad = letterbox(image, self.imgsz)
            batch.append(tensor)
            meta.append((scale, pad))
        output = self.session.run(None, {self.input: np.stack(batch)})[0]
        return [self._decode(out, scale, pad, conf, iou) for out, (scale, pad) in zip(output, meta, strict=True)]

    @staticmethod
    def _decode(out: np.ndarray, scale: float, pad: tuple[float, float], conf: float, iou: float) -> list[Detection]:
        preds = out.T  # (anchors, 17)
        preds = preds[preds[:, 4] >= conf]
        if not len(preds):
            return []
        cx, cy, w, h = preds[:, 0], preds[:, 1], preds[:, 2], preds[:, 3]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        keep = nms(boxes, preds[:, 4], iou)
        detections = []
        for i in keep:
            kpts = preds[i, 5:].reshape(4, 3)
            corners = (kpts[:, :2] - np.array(pad)) / scale
            box = (boxes[i] - np.array([pad[0], pad[1], pad[0], pad[1]])) / scale
            detections.append(Detection(tuple(float(v) for v in box), float(preds[i, 4]), corners, kpts[:, 2]))  # type: ignore[arg-type]
        return detections
