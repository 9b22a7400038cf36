"""Read the name line and the collector line of a rectified card with the PP-OCR recogniser.

The card is rectified, so the two lines sit in known bands: the name near the top, the
collector line (``SVI EN 012/198``, ``MST131``) near the bottom. The PP-OCR recognition model
(rapidocr, ONNX Runtime; it ships inside the wheel) reads both bands of every card in one batch.
No text detector runs: on a rectified card it would only find what the bands already give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NAME_BAND = (0.03, 0.025, 0.80, 0.115)  # x0, y0, x1, y1 as shares of the card
COLLECTOR_BAND = (0.03, 0.895, 0.80, 0.985)


@dataclass(frozen=True)
class CardText:
    name: str
    name_score: float
    collector: str
    collector_score: float


def bands(card: np.ndarray) -> list[np.ndarray]:
    """The name and collector bands of a rectified card (H, W, 3 uint8 RGB)."""
    h, w = card.shape[:2]
    out = []
    for x0, y0, x1, y1 in (NAME_BAND, COLLECTOR_BAND):
        out.append(np.ascontiguousarray(card[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w), ::-1]))  # BGR
    return out


class CardOCR:
    def __init__(self, *, device: str = "auto", threads: int = 0, batch: int = 16) -> None:
        from rapidocr import RapidOCR

        params: dict[str, Any] = {
            "Global.use_cls": False,
            "Global.log_level": "error",
            "Rec.rec_batch_num": batch,
            "EngineConfig.onnxruntime.use_cuda": device in ("auto", "cuda") and _has_cuda(),
        }
        if threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        self.engine = RapidOCR(params=params)

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text and confidence of each single-line crop (BGR uint8), in one batch."""
        if not crops:
            return []
        result = self.engine.recognize_txt(crops)
        return list(zip(result.txts or (), (float(s) for s in (result.scores or ())), strict=True))

    def read(self, cards: list[np.ndarray]) -> list[CardText]:
        """Both lines of every card (RGB uint8 arrays of rectified cards)."""
        return texts_of(self.recognize([band for card in cards for band in bands(card)]))


def texts_of(lines: list[tuple[str, float]]) -> list[CardText]:
    """Pairs of recognised bands (name, collector) back into one record per card."""
    return [CardText(*lines[i], *lines[i + 1]) for i in range(0, len(lines), 2)]


def _has_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()
