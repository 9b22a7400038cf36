"""Procedural artwork seeded by a printing id: reprints with the same name look different."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def seed_of(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def procedural_art(key: str, size: tuple[int, int], palette: list[tuple[int, int, int]]) -> Image.Image:
    """A painterly scene: a sky-to-ground gradient, hills, a creature-like figure, sparkles."""
    rng = np.random.default_rng(seed_of(key))
    w, h = size
    top = np.array(palette[rng.integers(len(palette))], float)
    bottom = np.array(palette[rng.integers(len(palette))], float) * rng.uniform(0.5, 0.9)
    t = np.linspace(0, 1, h)[:, None, None]
    sky = (top * (1 - t) + bottom * t) * np.ones((1, w, 1))
    image = Image.fromarray(sky.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 5)):  # hills
        y0 = int(h * rng.uniform(0.45, 0.8))
        color = tuple(int(c) for c in np.array(palette[rng.integers(len(palette))]) * rng.uniform(0.4, 0.9))
        draw.ellipse(
            [int(w * rng.uniform(-0.5, 0.5)), y0, int(w * rng.uniform(0.6, 1.6)), int(y0 + h * 0.9)], fill=color
        )
    cx, cy = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.35, 0.6)
    body = tuple(int(c) for c in rng.integers(30, 230, 3))
    accent = tuple(int(c) for c in rng.integers(30, 230, 3))
    scale = min(w, h) * rng.uniform(0.25, 0.4)
    for _ in range(rng.integers(3, 7)):  # a figure from overlapping ellipses
        dx, dy = rng.normal(0, 0.35, 2) * scale
        rx, ry = scale * rng.uniform(0.25, 0.6), scale * rng.uniform(0.25, 0.6)
        fill = body if rng.random() < 0.6 else accent
        draw.ellipse(
            [cx + dx - rx, cy + dy - ry, cx + dx + rx, cy + dy + ry],
            fill=fill,
            outline=(20, 20, 20),
            width=max(1, int(scale / 40)),
        )
    for _ in range(2):  # eyes
        ex = cx + rng.uniform(-0.3, 0.3) * scale
        ey = cy - rng.uniform(0.1, 0.4) * scale
        r = scale * 0.07
        draw.ellipse([ex - r, ey - r, ex + r, ey + r], fill=(250, 250, 250), outline=(0, 0, 0))
        draw.ellipse([ex - r / 2, ey - r / 2, ex + r / 2, ey + r / 2], fill=(10, 10, 10))
    for _ in range(rng.integers(5, 30)):  # sparkles and strokes
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        length = rng.uniform(2, min(w, h) * 0.08)
        angle = rng.uniform(0, np.pi)
        color = tuple(int(c) for c in rng.integers(120, 256, 3))
        draw.line([x, y, x + length * np.cos(angle), y + length * np.sin(angle)], fill=color, width=2)
    return image.filter(ImageFilter.SMOOTH)
