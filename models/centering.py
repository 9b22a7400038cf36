"""Centering measured geometrically on a rectified card: the printed frame against the edges.

The border colour is the median of a thin strip just inside the card's edges. Along many rows
(and columns) through the middle of the card, the border ends where the colour departs from it
for several pixels in a row; the median widths give left/right and top/bottom shares. No network
guesses it: the grader reports what the geometry says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 630, 880  # rectified card at 10 px/mm


@dataclass(frozen=True)
class Centering:
    left: float
    right: float
    top: float
    bottom: float

    @property
    def left_share(self) -> float:
        return self.left / (self.left + self.right)

    @property
    def top_share(self) -> float:
        return self.top / (self.top + self.bottom)

    def ratio(self) -> str:
        """As graders write it: the larger share first, e.g. ``55/45 LR, 52/48 TB``."""
        lr, tb = max(self.left_share, 1 - self.left_share), max(self.top_share, 1 - self.top_share)
        return f"{round(lr * 100)}/{round((1 - lr) * 100)} LR, {round(tb * 100)}/{round((1 - tb) * 100)} TB"


def _border_run(profile: np.ndarray, border: np.ndarray, threshold: float, sustain: int, start: int) -> int | None:
    distance = np.abs(profile - border).sum(-1)
    off = distance > threshold
    limit = len(off) // 3
    for i in range(start, limit):
        if off[i : i + sustain].all():
            return i
    return None


def measure_centering(card: Image.Image, *, threshold: float = 60.0, sustain: int = 6) -> Centering:
    rgb = np.asarray(card.convert("RGB").resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR), np.float32)
    edge = 6  # skip the very edge: whitening and cut lines live there
    strip = np.concatenate(
        [
            rgb[edge : edge + 6, 60:-60].reshape(-1, 3),
            rgb[-edge - 6 : -edge, 60:-60].reshape(-1, 3),
            rgb[60:-60, edge : edge + 6].reshape(-1, 3),
            rgb[60:-60, -edge - 6 : -edge].reshape(-1, 3),
        ]
    )
    border = np.median(strip, axis=0)
    rows = range(int(HEIGHT * 0.2), int(HEIGHT * 0.8), 7)
    cols = range(int(WIDTH * 0.2), int(WIDTH * 0.8), 7)

    def widths(lines: list[np.ndarray]) -> float:
        found = [w for line in lines if (w := _border_run(line, border, threshold, sustain, edge)) is not None]
        return float(np.median(found)) if found else float("nan")

    left = widths([rgb[r] for r in rows])
    right = widths([rgb[r, ::-1] for r in rows])
    top = widths([rgb[:, c] for c in cols])
    bottom = widths([rgb[::-1, c] for c in cols])
    return Centering(left, right, top, bottom)
