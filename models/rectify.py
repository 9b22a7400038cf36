"""Rectify a card from a photo: the homography from its four corners to a flat 63 x 88 mm face."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from models.centering import HEIGHT, WIDTH


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


def rectify_card(
    photo: Image.Image | np.ndarray,
    corners: np.ndarray | list[list[float]],
    *,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> Image.Image:
    """``corners``: the card's top-left, top-right, bottom-right, bottom-left in photo pixels.
    ``photo`` may be the RGB array already decoded, so many cards of one photo share it."""
    quad = np.asarray(corners, float)
    if quad.shape != (4, 2):
        raise ValueError("corners must be four (x, y) points")
    w, h = size
    flat = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    out_to_photo = homography(flat, quad)  # maps output pixels back into the photo
    source = photo if isinstance(photo, np.ndarray) else np.asarray(photo.convert("RGB"))
    warped = cv2.warpPerspective(
        source, out_to_photo, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    return Image.fromarray(warped)
