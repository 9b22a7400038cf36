"""Run the card detector's ONNX export: letterbox, infer, decode boxes and corners, NMS.

Framework-free (numpy + onnxruntime): the Serve deployment and the evaluation both use it.
The export's output is (N, 4 + 1 + 4 * 3, anchors): box centre/size in input pixels, the card
score, then each corner's x, y and visibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
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


def _intersection(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The area ``box`` shares with each of ``boxes`` (x0, y0, x1, y1)."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    result: np.ndarray = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return result


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    inter = _intersection(box, boxes)
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


# Close-ups. The detector was trained on photos whose cards are at most ~85% of the photo's height;
# a card photographed close (as a collector shows one card) fills the photo or runs off its edges,
# and the detector then finds it in unsure pieces or not at all. Seen again zoomed out, such a card
# is the size the detector knows.
CLOSE_UP = 0.7  # a detection spanning more than this share of the photo's width or height is a close-up
ZOOM_OUT = 2  # the photo seen again at 1/ZOOM_OUT of the detector's input, centred on grey
CANVAS_GREY = 114  # the letterbox colour the detector was trained with


def close_up(detection: Detection, size: tuple[int, int]) -> bool:
    """Whether ``detection`` (in a photo of ``size``) fills most of the photo."""
    x0, y0, x1, y1 = detection.box
    return x1 - x0 > CLOSE_UP * size[0] or y1 - y0 > CLOSE_UP * size[1]


def zoomed_out(image: np.ndarray, side: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """``image`` (RGB) shrunk so its long side is ``side``, centred on a grey square ``side *
    ZOOM_OUT`` wide: what a detector with a ``side`` px input sees at 1/ZOOM_OUT of its usual size.
    Returns the canvas, the scale and the offset that map the photo's pixels into it."""
    h, w = image.shape[:2]
    scale = side / max(w, h)
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    canvas_side = side * ZOOM_OUT
    canvas = np.full((canvas_side, canvas_side, 3), CANVAS_GREY, np.uint8)
    x0, y0 = (canvas_side - small.shape[1]) // 2, (canvas_side - small.shape[0]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return canvas, scale, (float(x0), float(y0))


# a photo many times larger than the detector's input (a 12 MP phone photo is ~10 times 416 px) is
# first box-averaged down by a whole factor, leaving the letterbox's filter to shrink it by less than
# REDUCING_GAP (Pillow's ``reducing_gap``): 12 MP, the detector's input made in 6 + 9 ms instead of
# 17 (``Image.fromarray``) + 56, and 2.3 MB instead of 36 MB sent to the detector deployment. Photos
# up to REDUCING_GAP * 2 times the input's side (1,664 px at 416) go to the detector as they are
REDUCING_GAP = 2


def reduced(image: np.ndarray, side: int) -> tuple[np.ndarray, int]:
    """``image`` (H, W, 3) box-averaged down by the whole factor that leaves its long side at least
    ``REDUCING_GAP`` times ``side``, and that factor (1: the image itself). The last rows and columns
    that do not fill a whole box (fewer than the factor) are left out."""
    h, w = image.shape[:2]
    factor = int(max(h, w) / (side * REDUCING_GAP))
    if factor < 2:
        return image, 1
    rows, cols = h // factor, w // factor
    small = cv2.resize(image[: rows * factor, : cols * factor], (cols, rows), interpolation=cv2.INTER_AREA)
    return small, factor


def moved_back(detection: Detection, scale: float, offset: tuple[float, float]) -> Detection:
    """A detection on a :func:`zoomed_out` canvas in the photo's own pixels."""
    ox, oy = offset
    box = detection.box
    return Detection(
        ((box[0] - ox) / scale, (box[1] - oy) / scale, (box[2] - ox) / scale, (box[3] - oy) / scale),
        detection.score,
        (detection.corners - np.array([ox, oy])) / scale,
        detection.corner_visibility,
    )


def with_close_ups(
    near: list[Detection], far: list[Detection], size: tuple[int, int], *, sure: float
) -> list[Detection]:
    """The detections of a photo seen as it is (``near``: none of them ``sure``) and zoomed out
    (``far``, moved back). A close-up seen zoomed out stands for the detections under it when it is
    surer than each (one card filling the photo is found in unsure pieces, or as one unsure
    detection); where nothing was found it must be ``sure`` itself."""
    kept = list(near)
    taken: list[Detection] = []
    for d in sorted((d for d in far if close_up(d, size)), key=lambda d: -d.score):
        box = np.array([d.box])
        under = [n for n in kept if _overlap(np.array(n.box), box)[0] > 0.5]
        if all(n.score < d.score for n in under) if under else d.score >= sure:
            taken.append(d)
            kept = [n for n in kept if not any(n is u for u in under)]
    return taken + kept


def _overlap(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The share of ``box``'s area inside each of ``boxes``."""
    result: np.ndarray = _intersection(box, boxes) / max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
    return result
