"""Wear at the card's corners and edges, read at the crop's full resolution.

The grader network sees the whole card at 192x268, where whitening of a few pixels at the corners
is gone. This network sees 64x64 patches of the rectified card at the scan-crop scale (315x440,
about the card's size in the photo): each corner, and six stretches of each edge that together cover
all of it between the corners (a chip can be anywhere along an edge), every patch turned so that
its corner is top left or its edge runs along the top. It scores each patch's
damage on the rubric's scale (``pipelines.render.condition``: a corner's 0.6 whitening + 0.3
rounding + 0.5 dings, an edge's 0.6 whitening + 0.6 chipping, each 0..1); the card's corners and
edges subgrades follow from the worst corner and the worst edge it can see, as the rubric makes
them. Trained by ``cardvault train wear`` (``pipelines/train/wear.py``) on scan crops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from models.identify import providers_for, session_options
from models.rectify import at_size

SCALE_W, SCALE_H = 315, 440  # the scan-crop scale: half the scan's 630x880 rectified card
PATCH = 64
# patches along each edge, between its corners: six cover the long edges (440 px) end to end. Two
# (sessions 9-11) saw ~30-40% of each edge, so a chip elsewhere was invisible and the training
# labels (the edge's damage on each stretch) were wrong for the stretches without it
EDGE_STRETCHES = 6
CORNERS = ("TL", "TR", "BR", "BL")
EDGES = ("top", "right", "bottom", "left")
PATCHES_PER_CARD = len(CORNERS) + len(EDGES) * EDGE_STRETCHES


def scaled(card: Image.Image) -> np.ndarray:
    """A rectified card at the scan-crop scale, (H, W, 3) uint8 (a 630x880 crop is halved by 2x2
    averaging, as the crops of ``cardvault dataset crops`` are cut)."""
    return np.asarray(at_size(card.convert("RGB"), (SCALE_W, SCALE_H)))


def _stretches(length: int) -> list[int]:
    """Where the edge patches start along an edge of ``length`` pixels: evenly from half a patch
    in from one corner to half a patch in from the other, overlapping on the short edges."""
    return [int(v) for v in np.linspace(PATCH * 0.5, length - PATCH * 1.5, EDGE_STRETCHES)]


def patches(card: np.ndarray) -> np.ndarray:
    """(PATCHES_PER_CARD, PATCH, PATCH, 3) uint8 from a card at the scan-crop scale: the four
    corners (TL, TR, BR, BL), each turned so that the corner is top left, then each edge's
    stretches (top, right, bottom, left), each turned so that the edge runs along the top."""
    h, w = card.shape[:2]
    p = PATCH
    out = [
        card[:p, :p],
        card[:p, w - p :][:, ::-1],
        card[h - p :, w - p :][::-1, ::-1],
        card[h - p :, :p][::-1],
    ]
    # an edge turned to the top: the right edge a quarter turn anticlockwise, and so on
    turned = (card, np.rot90(card, 1), np.rot90(card, 2), np.rot90(card, 3))
    for side in turned:
        for x in _stretches(side.shape[1]):
            out.append(side[:p, x : x + p])
    return np.ascontiguousarray(np.stack(out))


def to_input(batch: np.ndarray) -> np.ndarray:
    """(N, PATCH, PATCH, 3) uint8 patches to the network's (N, 3, PATCH, PATCH) float input."""
    result: np.ndarray = batch.transpose(0, 3, 1, 2).astype(np.float32) / 255
    return result


def per_stretch(damage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The network's (N * PATCHES_PER_CARD, 2) output to each card's corner damage (N, 4) and the
    damage of each stretch of each edge (N, 4, EDGE_STRETCHES): a corner patch's first output, an
    edge stretch's second."""
    d = damage.reshape(-1, PATCHES_PER_CARD, 2)
    return d[:, : len(CORNERS), 0], d[:, len(CORNERS) :, 1].reshape(len(d), len(EDGES), EDGE_STRETCHES)


def per_card(damage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each card's corner damage (N, 4) and edge damage (N, 4), an edge's being its worst stretch's
    (a card in full view; ``models.grading`` reads only the stretches the photo shows)."""
    corners, stretches = per_stretch(damage)
    return corners, stretches.max(axis=2)


class WearNet:
    def __init__(self, onnx: Path, *, device: str = "auto", threads: int = 0) -> None:
        self.session = ort.InferenceSession(str(onnx), session_options(threads), providers=providers_for(device))

    def damage(self, cards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cards at the scan-crop scale, (N, H, W, 3) uint8, to their corner damage (N, 4) and the
        damage of each edge's stretches (N, 4, EDGE_STRETCHES)."""
        if not len(cards):
            return np.zeros((0, len(CORNERS)), np.float32), np.zeros((0, len(EDGES), EDGE_STRETCHES), np.float32)
        batch = np.concatenate([patches(c) for c in cards])
        out: np.ndarray = self.session.run(None, {"patches": to_input(batch)})[0]
        return per_stretch(out)
