"""Photos of 1-16 cards the way people take them, with exact labels.

Layouts: scattered on a surface, a 9-pocket binder page, held in a hand, fanned with overlap; and,
asked for by name only (never drawn at random), a close-up: one card filling most of the photo.
Cards may sit in penny sleeves or top-loaders with glare; photos get perspective, rotation,
uneven light, shadows, blur, sensor noise and JPEG compression. Card backs, booster wrappers,
boxes, coins and dice are negatives (never labelled). Each labelled card carries its four
corners in the card's own reading order (top-left, top-right, bottom-right, bottom-left), its
box, printing id, finish, condition parameters and grades, and how much of it is visible.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipelines.render.backgrounds import TRAIN_STYLES, background
from pipelines.render.card_face import CARD_H, CARD_W, FaceSpec, bold, render_back, render_face
from pipelines.render.condition import apply_wear, grade, sample_condition
from pipelines.render.geometry import homography, pil_perspective_coeffs
from pipelines.render.packs import printed_pack

LAYOUTS = ("table", "binder", "hand", "fan")  # drawn at random when no layout is asked for
# one card photographed close, as a collector shows one card: 80-110% of the photo's height, a
# quarter of them turned any way, often cut by the photo's edges
CLOSEUP = "closeup"
NEGATIVE_KINDS = ("back", "wrapper", "box", "coin", "die")
CARD_CORNERS = np.array([[0, 0], [CARD_W, 0], [CARD_W, CARD_H], [0, CARD_H]], float)


@dataclass
class Scene:
    image: Image.Image
    cards: list[dict[str, Any]]
    layout: str
    style: str

    def jpeg(self, quality: int) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue()


def _quad(
    rng: np.random.Generator,
    center: tuple[float, float],
    height: float,
    angle: float,
    tilt: float,
    aspect: float = CARD_W / CARD_H,
) -> np.ndarray:
    """Corners TL, TR, BR, BL of a card (or a thing ``aspect`` times as wide as high) of ``height``
    px at ``center``, rotated, in perspective."""
    w2, h2 = height * aspect / 2, height / 2
    pts = np.array([[-w2, -h2], [w2, -h2], [w2, h2], [-w2, h2]])
    pts += rng.normal(0, tilt * height, (4, 2))  # perspective: corners move independently
    c, s = math.cos(angle), math.sin(angle)
    out: np.ndarray = pts @ np.array([[c, s], [-s, c]]) + np.array(center)
    return out


def _paste_warped(
    canvas: Image.Image, owner: np.ndarray, index: int, rgba: Image.Image, quad: np.ndarray, shadow: float
) -> None:
    """Warp ``rgba`` (a card-sized image) onto ``quad`` of the canvas; mark the pixels it now owns."""
    w, h = canvas.size
    x0, y0 = np.floor(quad.min(0)).astype(int) - 2
    x1, y1 = np.ceil(quad.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    src = np.array([[0, 0], [rgba.width, 0], [rgba.width, rgba.height], [0, rgba.height]], float)
    out_to_in = homography(quad - [x0, y0], src)
    patch = rgba.transform(
        (x1 - x0, y1 - y0), Image.Transform.PERSPECTIVE, pil_perspective_coeffs(out_to_in), Image.Resampling.BILINEAR
    )
    if shadow > 0:
        alpha = patch.getchannel("A").filter(ImageFilter.GaussianBlur(6))
        dark = Image.new("RGBA", patch.size, (0, 0, 0, 0))
        dark.putalpha(alpha.point(lambda v: int(v * shadow)))
        offset = int(4 + 6 * shadow)
        canvas.alpha_composite(dark, (min(x0 + offset, w - 1), min(y0 + offset, h - 1)))
    canvas.alpha_composite(patch, (x0, y0))
    mask = np.asarray(patch.getchannel("A")) > 128
    owner[y0:y1, x0:x1][mask] = index


def _sleeve(face: Image.Image, rng: np.random.Generator, toploader: bool) -> Image.Image:
    """A penny sleeve (a thin clear margin) or a top-loader (a thick rigid frame), with glare."""
    margin = int(CARD_W * (0.1 if toploader else 0.03))
    out = Image.new("RGBA", (CARD_W + 2 * margin, CARD_H + 2 * margin), (230, 235, 240, 70 if toploader else 35))
    out.alpha_composite(face, (margin, margin))
    glare = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(glare)
    x = rng.uniform(0, out.width)
    draw.polygon(
        [(x, 0), (x + out.width * 0.25, 0), (x - out.width * 0.3, out.height), (x - out.width * 0.55, out.height)],
        fill=(255, 255, 255, int(rng.uniform(40, 140))),
    )
    out.alpha_composite(glare.filter(ImageFilter.GaussianBlur(18)))
    return out


def _negative(kind: str, rng: np.random.Generator, game: str) -> Image.Image:
    if kind == "back":
        return render_back(game)
    if kind == "wrapper":  # a booster pack: taller than a card, crimped ends, glossy print
        w, h = int(CARD_W * 1.15), int(CARD_H * 1.55)
        img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        color = tuple(int(c) for c in rng.integers(30, 230, 3))
        draw.rectangle([0, 40, w, h - 40], fill=(*color, 255))
        for x in range(0, w, 16):  # crimped seals
            draw.polygon([(x, 40), (x + 8, 0), (x + 16, 40)], fill=(*color, 255))
            draw.polygon([(x, h - 40), (x + 8, h), (x + 16, h - 40)], fill=(*color, 255))
        draw.text((40, h * 0.15), "BOOSTER", font=bold(90), fill=(250, 230, 80, 255))
        draw.ellipse([w * 0.2, h * 0.35, w * 0.8, h * 0.75], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        gloss = Image.new("RGBA", img.size, (255, 255, 255, 0))
        ImageDraw.Draw(gloss).rectangle([w * 0.1, 40, w * 0.3, h - 40], fill=(255, 255, 255, 70))
        img.alpha_composite(gloss)
        return img
    if kind == "box":
        w, h = int(CARD_W * rng.uniform(1.2, 1.8)), int(CARD_H * rng.uniform(0.5, 0.9))
        img = Image.new("RGBA", (w, h), (*(int(c) for c in rng.integers(20, 230, 3)), 255))
        ImageDraw.Draw(img).rectangle([0, 0, w - 1, h // 5], fill=(250, 250, 250, 255))
        return img
    if kind == "coin":
        r = int(CARD_W * rng.uniform(0.15, 0.3))
        img = Image.new("RGBA", (2 * r, 2 * r), (0, 0, 0, 0))
        ImageDraw.Draw(img).ellipse(
            [0, 0, 2 * r - 1, 2 * r - 1], fill=(200, 170, 60, 255), outline=(120, 100, 40, 255), width=6
        )
        return img
    size = int(CARD_W * rng.uniform(0.12, 0.2))  # a die
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle(
        [0, 0, size - 1, size - 1], radius=size // 5, fill=(*(int(c) for c in rng.integers(0, 255, 3)), 255)
    )
    for _ in range(int(rng.integers(1, 7))):
        px, py = rng.uniform(0.2, 0.8, 2) * size
        draw.ellipse([px - size / 12, py - size / 12, px + size / 12, py + size / 12], fill=(250, 250, 250, 255))
    return img


def _negative_quad(
    kind: str, img: Image.Image, rng: np.random.Generator, size: tuple[int, int], *, close: bool
) -> np.ndarray:
    """Where a negative lies in the photo: anywhere, smaller than the photo; or ``close``, filling it
    (its long side 75-105% of the photo's height)."""
    if close:
        center = (size[0] * (0.5 + rng.normal(0, 0.06)), size[1] * (0.5 + rng.normal(0, 0.05)))
        aspect = img.width / img.height
        height = size[1] * rng.uniform(0.75, 1.05) / max(1.0, aspect)
        return _quad(rng, center, height, rng.uniform(-math.pi, math.pi), 0.02, aspect)
    # (as drawn since session 3: scaled along the photo's axes after turning, so a turned box is skewed)
    center = (rng.uniform(0.1, 0.9) * size[0], rng.uniform(0.1, 0.9) * size[1])
    height = size[1] * rng.uniform(0.2, 0.5) * img.height / CARD_H
    quad = _quad(rng, center, height, rng.uniform(-math.pi, math.pi), 0.02)
    if kind == "back":
        return quad
    scale = np.array([img.width / CARD_W, img.height / CARD_H])
    scaled: np.ndarray = (quad - quad.mean(0)) * scale + quad.mean(0)
    return scaled


def _placements(
    layout: str, n: int, size: tuple[int, int], rng: np.random.Generator
) -> list[tuple[tuple[float, float], float, float]]:
    """(center, card height, angle) per card."""
    w, h = size
    if n == 0:
        return []
    if layout == "binder":
        height = h / 3.3
        cols = [w / 2 + (i - 1) * height * CARD_W / CARD_H * 1.08 for i in range(3)]
        ys = [h / 2 + (j - 1) * height * 1.05 for j in range(3)]
        cells = [(c, r) for r in ys for c in cols]
        picked = rng.choice(len(cells), size=min(n, 9), replace=False)
        return [(cells[i], height * 0.97, rng.normal(0, 0.02)) for i in sorted(picked)]
    if layout == CLOSEUP:
        height = h * rng.uniform(0.8, 1.1)
        angle = rng.uniform(-math.pi, math.pi) if rng.random() < 0.25 else rng.normal(0, 0.12)
        return [((w / 2 + rng.normal(0, 0.08) * w, h / 2 + rng.normal(0, 0.06) * h), height, angle)]
    if layout == "hand":
        height = h * rng.uniform(0.55, 0.85)
        return [
            (
                (w / 2 + (i - (n - 1) / 2) * height * 0.25, h / 2 + rng.normal(0, 0.05) * h),
                height,
                rng.normal(0, 0.15) + (i - (n - 1) / 2) * 0.12,
            )
            for i in range(n)
        ]
    if layout == "fan":
        height = h * rng.uniform(0.35, 0.55)
        spread = rng.uniform(0.35, 0.6) * height * CARD_W / CARD_H
        return [
            (
                (w / 2 + (i - (n - 1) / 2) * spread, h / 2 + rng.normal(0, 0.03) * h),
                height,
                (i - (n - 1) / 2) * rng.uniform(0.05, 0.15),
            )
            for i in range(n)
        ]
    # table: a loose grid with jitter, any orientation
    ncols = math.ceil(math.sqrt(n * w / h))
    nrows = math.ceil(n / ncols)
    height = min(h / nrows * 0.8, w / ncols * 0.8 * CARD_H / CARD_W) * rng.uniform(0.75, 1.0)
    slots = [(c, r) for r in range(nrows) for c in range(ncols)][:n]
    return [
        (
            (
                (c + 0.5) * w / ncols + rng.normal(0, 0.08) * w / ncols,
                (r + 0.5) * h / nrows + rng.normal(0, 0.08) * h / nrows,
            ),
            height,
            rng.uniform(-math.pi, math.pi) if rng.random() < 0.3 else rng.normal(0, 0.2),
        )
        for c, r in slots
    ]


def compose(
    specs: list[FaceSpec],
    rng: np.random.Generator,
    *,
    size: tuple[int, int] = (1280, 960),
    layout: str | None = None,
    styles: tuple[str, ...] = TRAIN_STYLES,
    negatives: int | None = None,
    pack_titles: dict[str, list[str]] | None = None,
    negative_kinds: tuple[str, ...] | None = None,
) -> Scene:
    """A photo of ``specs``' cards. ``pack_titles`` (game -> expansion names): booster wrappers drawn
    printed as real packs are (``pipelines.render.packs``), titled with one of those names, instead of
    the plain wrapper every dataset so far was drawn with. ``negative_kinds``: the negatives to draw
    from (default: backs, wrappers, boxes, coins and dice; only the first three for a close-up)."""
    layout = layout or str(rng.choice(LAYOUTS, p=[0.45, 0.2, 0.15, 0.2]))
    if layout == "hand":
        specs = specs[:3]
    elif layout == CLOSEUP:
        specs = specs[:1]
    style = "binder" if layout == "binder" else str(rng.choice([s for s in styles if s != "binder"] or ["wood"]))
    canvas = background(style, size, rng).convert("RGBA")
    owner = np.full((size[1], size[0]), -1, np.int32)
    n_neg = int(rng.integers(0, 3)) if negatives is None else negatives
    # a close-up of no card is of one thing a card could be taken for (a booster pack alone)
    close_negative = layout == CLOSEUP and not specs
    for k in range(n_neg):  # negatives lie underneath or beside the cards
        kinds = negative_kinds or (("back", "wrapper", "box") if close_negative else NEGATIVE_KINDS)
        kind = str(rng.choice(list(kinds)))
        game = str(rng.choice(["pokemon", "fab"]))
        img = _negative(kind, rng, game)
        if kind == "wrapper" and pack_titles and pack_titles.get(game):
            # drawn from a generator of its own, seeded by the plain wrapper it replaces: the photo's
            # other draws (where the cards lie, their wear) stay as without it
            own = np.random.default_rng(int.from_bytes(hashlib.sha256(img.tobytes()).digest()[:8], "big"))
            img = printed_pack(own, game, str(own.choice(pack_titles[game])))
        quad = _negative_quad(kind, img, rng, size, close=close_negative)
        _paste_warped(canvas, owner, -2 - k, img, quad, 0.4)
    placements = _placements(layout, len(specs), size, rng)
    cards: list[dict[str, Any]] = []
    tilt = rng.uniform(0.0, 0.04)
    for index, (spec, (center, height, angle)) in enumerate(zip(specs, placements, strict=False)):
        condition = sample_condition(rng)
        face = render_face(spec, centering=(condition.centering_lr, condition.centering_tb)).image
        face = apply_wear(face, condition, rng)
        quad = _quad(rng, center, height, angle, tilt)
        sleeve = rng.random()
        if layout != "binder" and sleeve < 0.25:
            sleeved = _sleeve(face, rng, toploader=sleeve < 0.08)
            margin = (sleeved.width - CARD_W) / 2
            h_card = homography(CARD_CORNERS, quad)
            outer = np.array(
                [
                    [-margin, -margin],
                    [CARD_W + margin, -margin],
                    [CARD_W + margin, CARD_H + margin],
                    [-margin, CARD_H + margin],
                ]
            )
            pts = np.c_[outer, np.ones(4)] @ h_card.T
            _paste_warped(canvas, owner, index, sleeved, pts[:, :2] / pts[:, 2:3], 0.5)
            owner[owner == index] = -1  # the sleeve is not the card: mark the card's own pixels below
            _mark(owner, index, quad)
        else:
            _paste_warped(canvas, owner, index, face, quad, 0.0 if layout == "binder" else rng.uniform(0.2, 0.6))
        g = grade(condition)
        cards.append(
            {
                "printing_id": spec.printing_id,
                "finish": spec.finish,
                "corners": quad.round(2).tolist(),
                "condition": condition.to_dict(),
                "grades": {
                    "centering": g.centering,
                    "corners": g.corners,
                    "edges": g.edges,
                    "surface": g.surface,
                    "overall": g.overall,
                    "condition": g.condition,
                },
                "area_px": float(_polygon_area(quad)),
            }
        )
    if layout == "hand":
        _hand(canvas, owner, rng, size)
    image = _photometric(canvas.convert("RGB"), rng)
    for index, card in enumerate(cards):
        quad = np.array(card["corners"])
        visible = float((owner == index).sum()) / max(card["area_px"], 1.0)
        inside = [bool(0 <= x < size[0] and 0 <= y < size[1]) for x, y in quad]
        card["visible"] = round(min(visible, 1.0), 3)
        # a rounded corner's own pixel is transparent: look just inside it, towards the centre
        probes = quad + 0.06 * (quad.mean(0) - quad)
        card["keypoint_visible"] = [
            bool(ok and 0 <= px < size[0] and 0 <= py < size[1] and owner[int(py), int(px)] == index)
            for (px, py), ok in zip(probes, inside, strict=True)
        ]
        card["keypoint_inside"] = inside
        xs, ys = quad[:, 0].clip(0, size[0]), quad[:, 1].clip(0, size[1])
        card["box"] = [
            round(float(xs.min()), 2),
            round(float(ys.min()), 2),
            round(float(xs.max()), 2),
            round(float(ys.max()), 2),
        ]
    return Scene(image=image, cards=cards, layout=layout, style=style)


def _mark(owner: np.ndarray, index: int, quad: np.ndarray) -> None:
    mask = Image.new("L", (owner.shape[1], owner.shape[0]), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in quad], fill=255)
    owner[np.asarray(mask) > 0] = index


def _polygon_area(quad: np.ndarray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _hand(canvas: Image.Image, owner: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> None:
    """A hand holding the cards from below: palm and thumb cover part of them."""
    w, h = size
    skin = tuple(int(c) for c in np.array([rng.uniform(140, 240), rng.uniform(100, 190), rng.uniform(80, 160)]))
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    cx = w / 2 + rng.normal(0, 0.1) * w
    draw.ellipse([cx - w * 0.22, h * 0.72, cx + w * 0.22, h * 1.25], fill=(*skin, 255))
    tx = cx + rng.uniform(-0.2, 0.2) * w
    draw.rounded_rectangle(
        [tx - w * 0.035, h * rng.uniform(0.5, 0.65), tx + w * 0.035, h * 0.9], radius=int(w * 0.03), fill=(*skin, 255)
    )
    layer = layer.filter(ImageFilter.GaussianBlur(2))
    canvas.alpha_composite(layer)
    owner[np.asarray(layer.getchannel("A")) > 128] = -9


def _photometric(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = image.size
    arr = np.asarray(image, np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gx, gy = rng.normal(0, 1, 2)
    light = 1 + 0.35 * rng.uniform(0, 1) * ((xx / w - 0.5) * gx + (yy / h - 0.5) * gy)
    tint = np.array([rng.uniform(0.9, 1.1), 1.0, rng.uniform(0.85, 1.1)], np.float32)
    arr = arr * light[..., None] * tint * rng.uniform(0.75, 1.15)
    arr += rng.normal(0, rng.uniform(0, 6), arr.shape)
    out = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.5:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.8)))
    return out
