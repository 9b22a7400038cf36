"""Homographies between a card's rectangle and its quadrilateral in a photo."""

from __future__ import annotations

import numpy as np

from models.rectify import homography

__all__ = ["apply", "homography", "pil_perspective_coeffs"]


def apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts: np.ndarray = np.c_[points, np.ones(len(points))] @ h.T
    projected: np.ndarray = pts[:, :2] / pts[:, 2:3]
    return projected


def pil_perspective_coeffs(h_out_to_in: np.ndarray) -> tuple[float, ...]:
    """PIL's PERSPECTIVE data: the 8 coefficients mapping output pixels to input pixels."""
    m = h_out_to_in / h_out_to_in[2, 2]
    return tuple(float(v) for v in m.flatten()[:8])
