"""Surfaces cards are photographed on: tables, carpets, playmats, binder pages, tiles, fabric,
speckled stone, cluttered desks, plain sheets; and, held out for evaluation, checked cloth and stone.

``TRAIN_STYLES`` and ``HELD_OUT_STYLES`` do not overlap, so evaluation scenes are shot on
surfaces the models never saw.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

TRAIN_STYLES = ("wood", "carpet", "playmat", "binder", "tiles", "stripes", "granite", "clutter", "plain")
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
    elif style == "tiles":  # floor or table tiles: grout lines at a random angle
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0, np.pi)
        u, v = xx * np.cos(angle) + yy * np.sin(angle), -xx * np.sin(angle) + yy * np.cos(angle)
        period = rng.uniform(60, 240)
        grout = ((u % period) < 4) | ((v % period) < 4)
        arr = base * (0.85 + 0.3 * _noise(rng, h, w, 30)[..., None])
        arr[grout] = rng.uniform(60, 230)
    elif style == "stripes":  # striped fabric, denim twill, a patterned tablecloth
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0, np.pi)
        u = xx * np.cos(angle) + yy * np.sin(angle)
        wave = (np.sin(u / rng.uniform(2, 25)) > rng.uniform(-0.5, 0.5))[..., None]
        other = rng.integers(20, 235, 3).astype(np.float32)
        fibre = 0.85 + 0.3 * rng.random((h, w, 1)).astype(np.float32)
        arr = (base * wave + other * (1 - wave)) * fibre
    elif style == "granite":  # speckled stone, terrazzo, laminate: colour noise at several scales
        arr = np.zeros((h, w, 3), np.float32)
        for scale, weight in ((int(rng.integers(2, 6)), 0.5), (int(rng.integers(8, 30)), 0.35), (120, 0.25)):
            arr += weight * np.stack([_noise(rng, h, w, scale) for _ in range(3)], -1) * rng.uniform(0.5, 1.0)
        arr = base * (0.4 + arr)
    elif style == "clutter":  # a busy desk: papers, pens, cables, printed boxes
        img = Image.fromarray((base * (0.7 + 0.5 * _noise(rng, h, w, 200)[..., None])).clip(0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(5, 25))):
            color = tuple(int(c) for c in rng.integers(0, 255, 3))
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            kind = rng.integers(3)
            if kind == 0:
                draw.rectangle([x, y, x + rng.uniform(20, 400), y + rng.uniform(20, 300)], fill=color)
            elif kind == 1:
                draw.line(
                    [x, y, x + rng.uniform(-500, 500), y + rng.uniform(-500, 500)],
                    fill=color,
                    width=int(rng.integers(2, 14)),
                )
            else:
                draw.text((x, y), "".join(rng.choice(list("ABCDEFGH 0123456789"), 12)), fill=color)
        return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 2.5))))
    elif style == "plain":  # a bare desk or sheet under uneven light
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        light = 1 - rng.uniform(0, 0.5) * ((xx / w - rng.uniform(0, 1)) ** 2 + (yy / h - rng.uniform(0, 1)) ** 2)
        arr = base * light[..., None] * (0.97 + 0.06 * rng.random((h, w, 1)).astype(np.float32))
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
