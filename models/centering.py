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


def _border_runs(profiles: np.ndarray, border: np.ndarray, threshold: float, sustain: int, start: int) -> np.ndarray:
    """For each line (rows of ``profiles``, (n, length, 3)), where the border ends: the first index
    from ``start`` where the colour stays off the border colour for ``sustain`` pixels; NaN if the
    first third of the line has none."""
    off = (np.abs(profiles - border).sum(-1) > threshold).astype(np.int32)
    limit = off.shape[1] // 3
    windows = np.cumsum(np.pad(off, ((0, 0), (1, 0))), axis=1)
    run = windows[:, sustain:] - windows[:, :-sustain]  # run[:, i] = off[:, i:i+sustain].sum()
    hit = run[:, start:limit] == sustain
    first: np.ndarray = np.argmax(hit, axis=1).astype(np.float64) + start
    first[~hit.any(axis=1)] = np.nan
    return first


def measure_centering(card: Image.Image, *, threshold: float = 60.0, sustain: int = 6) -> Centering:
    card = card.convert("RGB")
    # the card stays uint8; only the strips and lines read below become float (a tenth of the pixels)
    rgb = np.asarray(card if card.size == (WIDTH, HEIGHT) else card.resize((WIDTH, HEIGHT)))
    edge = 6  # skip the very edge: whitening and cut lines live there
    strip = np.concatenate(
        [
            rgb[edge : edge + 6, 60:-60].reshape(-1, 3),
            rgb[-edge - 6 : -edge, 60:-60].reshape(-1, 3),
            rgb[60:-60, edge : edge + 6].reshape(-1, 3),
            rgb[60:-60, -edge - 6 : -edge].reshape(-1, 3),
        ]
    )
    border = np.median(strip, axis=0).astype(np.float32)
    rows = range(int(HEIGHT * 0.2), int(HEIGHT * 0.8), 7)
    cols = range(int(WIDTH * 0.2), int(WIDTH * 0.8), 7)

    def widths(lines: np.ndarray) -> float:
        found = _border_runs(lines.astype(np.float32), border, threshold, sustain, edge)
        return float(np.nanmedian(found)) if not np.isnan(found).all() else float("nan")

    rows_ix, cols_ix = np.asarray(rows), np.asarray(cols)
    left = widths(rgb[rows_ix])
    right = widths(rgb[rows_ix, ::-1])
    top = widths(rgb[:, cols_ix].transpose(1, 0, 2))
    bottom = widths(rgb[::-1, cols_ix].transpose(1, 0, 2))
    return Centering(left, right, top, bottom)
