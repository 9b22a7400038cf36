"""Homographies between a card's rectangle and its quadrilateral in a photo."""

from __future__ import annotations

import numpy as np


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 matrix H with dst ~ H @ src for four point pairs (direct linear transform)."""
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.asarray(rows, float))
    h: np.ndarray = vt[-1].reshape(3, 3)
    normalised: np.ndarray = h / h[2, 2]
    return normalised


def apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts: np.ndarray = np.c_[points, np.ones(len(points))] @ h.T
    projected: np.ndarray = pts[:, :2] / pts[:, 2:3]
    return projected


def pil_perspective_coeffs(h_out_to_in: np.ndarray) -> tuple[float, ...]:
    """PIL's PERSPECTIVE data: the 8 coefficients mapping output pixels to input pixels."""
    m = h_out_to_in / h_out_to_in[2, 2]
    return tuple(float(v) for v in m.flatten()[:8])
