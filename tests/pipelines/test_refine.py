"""Corner refinement: the detector's corners moved onto the card's edges in the photo."""

from __future__ import annotations

import cv2
import numpy as np

from models.refine import edge_gradients, refine_corners


def _photo(quad: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    photo = rng.normal(70, 12, (600, 800)).astype(np.float32)  # a grainy dark table
    cv2.fillConvexPoly(photo, quad.round().astype(np.int32), 215.0)  # a light card on it
    return photo


def test_corners_move_onto_the_card_edges() -> None:
    quad = np.array([[220.0, 90.0], [520.0, 130.0], [470.0, 540.0], [170.0, 500.0]])  # clockwise, tilted
    photo = _photo(quad)
    rng = np.random.default_rng(1)
    for turn in range(4):  # whichever corner the detector called first
        truth = np.roll(quad, turn, axis=0)
        guess = truth + rng.normal(0, 7, (4, 2))
        refined = refine_corners(photo, guess, edge_gradients(photo))
        before = np.linalg.norm(guess - truth, axis=1).mean()
        after = np.linalg.norm(refined - truth, axis=1).mean()
        assert after < 1.5 < before, (before, after)


def test_without_edges_the_detector_corners_stay() -> None:
    flat = np.full((400, 400), 128.0, np.float32)
    guess = np.array([[100.0, 100.0], [300.0, 100.0], [300.0, 300.0], [100.0, 300.0]])
    assert np.allclose(refine_corners(flat, guess), guess)
