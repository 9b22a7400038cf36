"""Surfaces cards are photographed on: tables, carpets, playmats, binder pages, cloth, stone.

``TRAIN_STYLES`` and ``HELD_OUT_STYLES`` do not overlap, so evaluation scenes are shot on
surfaces the models never saw.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

TRAIN_STYLES = ("wood", "carpet", "playmat", "binder")
HELD_OUT_STYLES = ("cloth", "stone", "binder")


def _noise(rng: np.random.Generator, h: int, w: int, scale: int) -> np.ndarray:
    small = rng.random((max(2, h // scale), max(2, w // scale)))
    return (
        np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC), np.float32)
        / 255
    )


def background(style: str, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    w, h = size
    base = rng.integers(40, 220, 3).astype(np.float32)
    if style == "wood":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        grain = np.sin((yy + 40 * _noise(rng, h, w, 64)) / rng.uniform(4, 12)) * 0.5 + 0.5
        wood = np.array([rng.uniform(110, 190), rng.uniform(70, 120), rng.uniform(30, 70)], np.float32)
        arr = wood * (0.75 + 0.35 * grain[..., None])
    elif style == "carpet":
        fibre = rng.random((h, w)).astype(np.float32)
        arr = base * (0.7 + 0.5 * fibre[..., None]) * (0.8 + 0.4 * _noise(rng, h, w, 40)[..., None])
    elif style == "playmat":
        arr = base * (0.6 + 0.6 * _noise(rng, h, w, 300)[..., None])
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(rng.integers(2, 8)):
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(40, 300)
            draw.ellipse(
                [x - r, y - r, x + r, y + r],
                outline=tuple(int(c) for c in rng.integers(0, 255, 3)),
                width=int(rng.integers(2, 12)),
            )
        return img.filter(ImageFilter.GaussianBlur(2))
    elif style == "binder":
        arr = np.ones((h, w, 3), np.float32) * rng.uniform(15, 60)
    elif style == "cloth":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        period = rng.uniform(12, 40)
        check = ((np.floor(xx / period) + np.floor(yy / period)) % 2)[..., None]
        other = rng.integers(40, 220, 3).astype(np.float32)
        arr = base * check + other * (1 - check)
    else:  # stone
        arr = base.mean() * (0.6 + 0.5 * _noise(rng, h, w, 8)[..., None] + 0.2 * _noise(rng, h, w, 80)[..., None])
        arr = np.repeat(arr, 3, -1) if arr.shape[-1] == 1 else arr
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
