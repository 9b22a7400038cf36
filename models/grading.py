"""Grade a rectified card: corners, edges and surface from the grader network, centering from
the geometry of the printed frame (``models.centering``), then the rubric's overall grade."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from models.centering import measure_centering
from models.identify import providers_for
from pipelines.render.condition import centering_grade, overall_grade

INPUT_W, INPUT_H = 192, 268


def grader_input(card: Image.Image) -> np.ndarray:
    arr = np.asarray(card.convert("RGB").resize((INPUT_W, INPUT_H), Image.Resampling.BILINEAR), np.float32) / 255
    result: np.ndarray = arr.transpose(2, 0, 1)
    return result


@dataclass(frozen=True)
class CardGrade:
    centering: float
    corners: float
    edges: float
    surface: float
    overall: float
    condition: str  # NM / LP / MP / HP / DMG
    centering_ratio: str | None  # as graders write it, e.g. "55/45 LR, 52/48 TB"
    centering_lr: float | None = None  # left border's share of left + right
    centering_tb: float | None = None  # top border's share of top + bottom

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def combine(subgrades: np.ndarray, card: Image.Image) -> CardGrade:
    """The network's corners/edges/surface and the measured centering, through the rubric."""
    centering = measure_centering(card)
    if np.isnan([centering.left, centering.right, centering.top, centering.bottom]).any():
        g = overall_grade(10.0, *(float(v) for v in subgrades))  # borderless art: no frame to measure
        return CardGrade(g.centering, g.corners, g.edges, g.surface, g.overall, g.condition, None)
    lr, tb = centering.left_share, centering.top_share
    g = overall_grade(centering_grade(lr, tb), *(float(v) for v in subgrades))
    return CardGrade(
        g.centering,
        g.corners,
        g.edges,
        g.surface,
        g.overall,
        g.condition,
        centering.ratio(),
        round(lr, 4),
        round(tb, 4),
    )


class CardGrader:
    def __init__(self, onnx: Path, *, device: str = "auto", threads: int = 0) -> None:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(onnx), options, providers=providers_for(device))

    def subgrades(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) from :func:`grader_input` to (N, 3): corners, edges, surface in [1, 10]."""
        if not len(batch):
            return np.zeros((0, 3), np.float32)
        out: np.ndarray = self.session.run(None, {"image": batch.astype(np.float32)})[0]
        return out
