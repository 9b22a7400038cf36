"""Sharpen the detector's corners on the photo itself: fit each side of the card to its edge.

The detector's keypoints land near the corners; the card's outline is a strong, straight edge.
For each side of the predicted quadrilateral, the gradient across the side is sampled along
short normals at many points of the side; the strongest edge on each normal is a point of the
side; a line is fitted to those points (least squares, outliers trimmed), and the refined
corners are where adjacent lines meet. A side that finds too few consistent points keeps the
detector's line, and a refinement that moves a corner implausibly far is refused.
"""

from __future__ import annotations

import cv2
import numpy as np

SAMPLES = 32


def _line_fit(points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(point, unit direction) of the total-least-squares line, after trimming outliers twice."""
    for _ in range(3):
        if len(points) < 6:
            return None
        centre = points.mean(0)
        _, _, vt = np.linalg.svd(points - centre)
        direction, normal = vt[0], vt[1]
        residual = np.abs((points - centre) @ normal)
        keep = residual <= max(1.5, 2.5 * float(np.median(residual)))
        if keep.all():
            break
        points = points[keep]
    return centre, direction


def _intersect(p1: np.ndarray, d1: np.ndarray, p2: np.ndarray, d2: np.ndarray) -> np.ndarray | None:
    matrix = np.array([d1, -d2]).T
    if abs(np.linalg.det(matrix)) < 1e-6:
        return None
    t = np.linalg.solve(matrix, p2 - p1)
    result: np.ndarray = p1 + t[0] * d1
    return result


def edge_gradients(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo's smoothed x and y gradients (computed once per photo, shared by its cards)."""
    smooth = cv2.GaussianBlur(gray, (0, 0), 1.2)
    return cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)


def refine_corners(
    gray: np.ndarray, corners: np.ndarray, gradients: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """``gray``: the photo as float32 (H, W); ``corners``: (4, 2) in clockwise order (TL, TR, BR, BL
    or any rotation of it). Returns (4, 2). ``gradients``: ``edge_gradients(gray)`` if already made."""
    quad = np.asarray(corners, np.float64)
    sides = [np.linalg.norm(quad[(i + 1) % 4] - quad[i]) for i in range(4)]
    reach = float(np.clip(0.08 * min(sides), 4, 40))
    gx, gy = gradients if gradients is not None else edge_gradients(gray)
    offsets = np.arange(-reach, reach + 0.5, 0.5)
    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        t = (b - a) / max(np.linalg.norm(b - a), 1e-9)
        n = np.array([t[1], -t[0]])  # outward for corners in clockwise (reading) order
        s = np.linspace(0.12, 0.88, SAMPLES)
        base = a + s[:, None] * (b - a)
        pts = base[:, None, :] + offsets[None, :, None] * n  # (SAMPLES, offsets, 2)
        map_x = pts[..., 0].astype(np.float32)
        map_y = pts[..., 1].astype(np.float32)
        sx = cv2.remap(gx, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        sy = cv2.remap(gy, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        across = np.abs(sx * n[0] + sy * n[1])
        inside = (map_x >= 1) & (map_y >= 1) & (map_x < gray.shape[1] - 1) & (map_y < gray.shape[0] - 1)
        across[~inside] = 0
        best = across.argmax(1)
        strength = across[np.arange(SAMPLES), best]
        good = strength >= max(8.0, 0.35 * float(np.median(strength[strength > 0])) if (strength > 0).any() else 8.0)
        edge_points = pts[np.arange(SAMPLES), best][good]
        lines.append(_line_fit(edge_points))
    refined = quad.copy()
    for i in range(4):
        before, after = lines[(i - 1) % 4], lines[i]  # the sides meeting at corner i
        if before is None or after is None:
            continue
        point = _intersect(before[0], before[1], after[0], after[1])
        if point is not None and np.linalg.norm(point - quad[i]) <= 2.5 * reach:
            refined[i] = point
    return refined
