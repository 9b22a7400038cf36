"""Rectify a card from a photo: the homography from its four corners to a flat 63 x 88 mm face."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from models.centering import HEIGHT, WIDTH, grid_pixels


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
    margin: int = 0,
) -> Image.Image:
    """``corners``: the card's top-left, top-right, bottom-right, bottom-left in photo pixels.
    ``photo`` may be the RGB array already decoded, so many cards of one photo share it.
    ``margin``: that many pixels of the photo around the card on every side (the card then spans
    ``margin`` to ``margin + size``): centering is measured against the card's own edges there,
    wherever the corners put them; ``unpad`` cuts the card itself back out."""
    quad = np.asarray(corners, float)
    if quad.shape != (4, 2):
        raise ValueError("corners must be four (x, y) points")
    w, h = size
    flat = np.array([[0, 0], [w, 0], [w, h], [0, h]], float) + margin
    source = photo if isinstance(photo, np.ndarray) else np.asarray(photo.convert("RGB"))
    source, quad = shrunk_to(source, quad, size, margin)
    out_to_photo = homography(flat, quad)  # maps output pixels back into the photo
    warped = cv2.warpPerspective(
        source,
        out_to_photo,
        (w + 2 * margin, h + 2 * margin),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return Image.fromarray(warped)


# a card this many times larger in the photo than the rectified size is first shrunk by averaging
# (``shrunk_to``): sampling it straight down would skip pixels and alias fine print and the halftone
SHRINK_ABOVE = 1.5


def shrunk_to(
    source: np.ndarray, quad: np.ndarray, size: tuple[int, int], margin: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The part of the photo around ``quad`` averaged down so that the card is about ``size`` there,
    and the quad in that part's pixels; the photo and quad as they are when the card is not more than
    ``SHRINK_ABOVE`` times larger. A card photographed close (a phone photo of one card: 1,500 px
    wide against the 630 of the rectified card) would otherwise be sampled at one pixel in 2-3, and
    its collector line and print lose strokes to aliasing."""
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)  # top, right, bottom, left
    factor = min((sides[0] + sides[2]) / (2 * size[0]), (sides[1] + sides[3]) / (2 * size[1]))
    if factor <= SHRINK_ABOVE:
        return source, quad
    pad = (margin + 2) * factor  # the margin kept around the card, in photo pixels, and interpolation's
    height, width = source.shape[:2]
    x0, y0 = (max(0, int(v)) for v in quad.min(axis=0) - pad)
    x1, y1 = min(width, int(quad[:, 0].max() + pad) + 1), min(height, int(quad[:, 1].max() + pad) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return source, quad
    part = source[y0:y1, x0:x1]
    out = (max(1, round((x1 - x0) / factor)), max(1, round((y1 - y0) / factor)))
    shrunk = cv2.resize(part, out, interpolation=cv2.INTER_AREA)
    scale = np.array([out[0] / (x1 - x0), out[1] / (y1 - y0)])
    return shrunk, (quad - [x0, y0] + 0.5) * scale - 0.5  # pixel centres, as cv2 counts them


def unpad(padded: Image.Image, margin: int) -> Image.Image:
    """The card itself out of a crop rectified with ``margin`` (the same pixels as rectifying
    without one)."""
    if not margin:
        return padded
    return Image.fromarray(np.ascontiguousarray(np.asarray(padded)[margin:-margin, margin:-margin]))


def visibility(
    quad: np.ndarray,
    others: list[np.ndarray],
    image_size: tuple[int, int],
    *,
    grid: tuple[int, int] = (63, 88),
    margin: float = 0.03,
) -> np.ndarray:
    """Which parts of a rectified card show the card itself: a (rows, cols) grid over the card's
    face (10 x 10 px cells of the 630 x 880 rectified card by default), False where the photo has
    no pixel there (the card runs out of the frame) or another found card's outline covers it.
    Which of two overlapping cards lies on top is not known, so the overlap counts as covered for
    both: a measurement there would read the neighbour's edge. Each other outline is first shrunk
    by ``margin`` of its size toward its centre: neighbours on a binder page or a table whose
    found outlines graze each other by a few pixels cover nothing."""
    cols, rows = grid
    w, h = WIDTH, HEIGHT
    flat = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    to_photo = homography(flat, np.asarray(quad, float))
    xs, ys = np.meshgrid((np.arange(cols) + 0.5) * w / cols, (np.arange(rows) + 0.5) * h / rows)
    points = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    mapped = to_photo @ points
    px, py = mapped[0] / mapped[2], mapped[1] / mapped[2]
    seen = (px >= 0) & (py >= 0) & (px < image_size[0]) & (py < image_size[1])
    for other in others:
        outline = np.asarray(other, float)
        centre = outline.mean(axis=0)
        seen &= ~_inside_convex(centre + (outline - centre) * (1 - margin), px, py)
    result: np.ndarray = seen.reshape(rows, cols)
    return result


def _inside_convex(quad: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Points inside a convex quadrilateral given in either winding."""
    crosses = []
    for k in range(4):
        (x0, y0), (x1, y1) = quad[k], quad[(k + 1) % 4]
        crosses.append((x1 - x0) * (py - y0) - (y1 - y0) * (px - x0))
    c = np.stack(crosses)
    inside: np.ndarray = np.logical_or((c >= 0).all(axis=0), (c <= 0).all(axis=0))
    return inside


# chosen on the training-split calibration scenes (seed 77, fans and hands, the scan's corners), session 8:
# 1.3 / 1.6 / 2.0 order 170 / 162 / 158 overlapping pairs right, 4 / 3 / 2 wrong, 17 / 26 / 32 unknown;
# session 24 (``benchmarks/stacking.py``, colour, outlines looked beside, at least 6 levels on top):
# 166 / 3 / 40 -> 173 right / 0 wrong / 36 unknown at 1.6
STACK_EVIDENCE = 1.6  # one outline's edge must stand out this many times more than the other's
STACK_EDGE = 6.0  # and show at least this contrast (levels of 255): an outline off the card shows none


def edge_contrasts(
    rgb: np.ndarray,
    quads: list[np.ndarray],
    *,
    samples: int = 48,
    offset: float = 2.0,
    shifts: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0),
    colour: bool = True,
) -> dict[tuple[int, int], tuple[float | None, float | None]]:
    """For each pair of overlapping outlines (i < j), the contrast across i's edge inside j and across
    j's edge inside i: the median, along the stretch of one outline inside the other, of the difference
    ``offset`` px either side of it (the largest of the three colour channels' with ``colour``: a yellow
    border on a pink face differs little in grey), each side of the outline looked along at each of
    ``shifts`` px off it, the one with the strongest median taken (a found outline a few px off the
    card's edge); None where too little of it lies in the photo."""
    h, w = rgb.shape[:2]

    def sample(points: np.ndarray) -> np.ndarray:  # only where it is looked at: a whole photo in grey costs ~30 ms
        values: np.ndarray = rgb[points[..., 1], points[..., 0]].astype(np.float32)
        if values.ndim == points.ndim:  # a colour photo: its channels kept, or their mean (grey)
            return values if colour else np.asarray(values.mean(axis=-1))
        return values

    def step(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """The difference across the edge at each pair of points (..., 2)."""
        d = np.abs(sample(p) - sample(q))
        return np.asarray(d.max(axis=-1) if d.ndim == p.ndim else d)

    def contrast(quad: np.ndarray, other: np.ndarray) -> float | None:
        centre = other.mean(axis=0)
        inner = centre + (other - centre) * 0.97
        values = []
        for k in range(4):
            a, b = quad[k], quad[(k + 1) % 4]
            t = (np.arange(samples) + 0.5) / samples
            points = a + (b - a) * t[:, None]
            inside = _inside_convex(inner, points[:, 0], points[:, 1])
            if not inside.any():
                continue
            direction = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
            unit = np.array([-direction[1], direction[0]])
            # an outline a few px off the card's edge: the edge looked for beside it, at each shift at once
            at = points[inside][None] + np.asarray(shifts, float)[:, None, None] * unit  # (shifts, n, 2)
            p, q = at + unit * offset, at - unit * offset
            ok = (p[..., 0] >= 0) & (p[..., 0] < w - 1) & (p[..., 1] >= 0) & (p[..., 1] < h - 1)
            ok &= (q[..., 0] >= 0) & (q[..., 0] < w - 1) & (q[..., 1] >= 0) & (q[..., 1] < h - 1)
            if not ok.any():
                continue
            found = step(np.where(ok[..., None], p, 0).astype(int), np.where(ok[..., None], q, 0).astype(int))
            medians = [float(np.median(f[m])) if m.any() else -1.0 for f, m in zip(found, ok, strict=True)]
            best = int(np.argmax(medians))
            values.append(found[best][ok[best]])
        joined = np.concatenate(values) if values else np.zeros(0)
        return float(np.median(joined)) if len(joined) >= 8 else None

    hulls = [cv2.convexHull(np.asarray(q, np.float32)) for q in quads]
    out: dict[tuple[int, int], tuple[float | None, float | None]] = {}
    for i in range(len(quads)):
        for j in range(i + 1, len(quads)):
            if float(cv2.intersectConvexConvex(hulls[i], hulls[j])[0]) <= 0:
                continue
            a, b = np.asarray(quads[i], float), np.asarray(quads[j], float)
            out[(i, j)] = contrast(a, b), contrast(b, a)
    return out


def on_top(
    ci: float | None, cj: float | None, *, evidence: float = STACK_EVIDENCE, edge: float = STACK_EDGE
) -> int | None:
    """Which of two overlapping outlines lies on top by their ``edge_contrasts``: 0 (the first), 1, or
    None where the contrasts do not tell."""
    if ci is None or cj is None:
        return None
    if ci > evidence * max(cj, 1.0) and ci >= edge:
        return 0
    if cj > evidence * max(ci, 1.0) and cj >= edge:
        return 1
    return None


def stacking(rgb: np.ndarray, quads: list[np.ndarray]) -> tuple[list[list[int]], list[list[int]]]:
    """For each card, the cards lying over it, and those overlapping it in an order not known,
    from the photo. Where two outlines cross, the top card's edge is a real edge in the photo all along
    the overlap (its border against what lies beneath), while the bottom card's edge there is
    hidden under the top card's face. Along each outline's stretch inside the other, the contrast
    across the edge (``edge_contrasts``) says which is on top (``on_top``); a pair it does not
    tell stays unknown (``visibility`` would count each as over the other). Cards that do not overlap
    cover nothing."""
    over: list[list[int]] = [[] for _ in quads]
    unknown: list[list[int]] = [[] for _ in quads]
    for (i, j), (ci, cj) in edge_contrasts(rgb, quads).items():
        top = on_top(ci, cj)
        if top == 0:
            over[j].append(i)  # i's edge shows across j: i lies on j
        elif top == 1:
            over[i].append(j)
        else:
            unknown[i].append(j)
            unknown[j].append(i)
    return over, unknown


def mask_covered(card: Image.Image, seen: np.ndarray) -> Image.Image:
    """The rectified card with what lies over it (``seen`` False: a ``visibility`` grid) painted in
    the mean colour of what shows: the identifier then embeds this card's art, not a neighbour's
    over it, and the text reader does not read the neighbour's lines as this card's."""
    if seen.all():
        return card
    return Image.fromarray(paint_covered(np.asarray(card.convert("RGB")), seen))


def paint_covered(pixels: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Cards' pixels ((..., H, W, 3) uint8, any size) with the cells ``seen`` marks covered painted in
    each card's mean colour of the rest (mid grey where nothing shows): ``mask_covered`` for a photo's
    card, ``models.scan.masked_faces`` for the reference faces it is compared with."""
    shown = grid_pixels(seen, *pixels.shape[-3:-1])
    count = int(shown.sum())
    painted = pixels.reshape(-1, *pixels.shape[-3:]).copy()
    mask = shown.astype(np.uint8)
    hidden = ~shown
    for card in painted:
        if count:
            # OpenCV's masked mean (a fifth of numpy's time on a 630 x 880 card), taken back to the
            # whole sums it came from, so the mean is numpy's to the last bit
            sums = np.rint(np.array(cv2.mean(card, mask=mask)[:3]) * count)
            fill = sums / count
        else:
            fill = np.full(3, 128.0)
        card[hidden] = fill.astype(np.uint8)
    return painted.reshape(pixels.shape)


def shown_card(card: Image.Image, quad: np.ndarray, over: list[np.ndarray], image_size: tuple[int, int]) -> Image.Image:
    """A card rectified from ``quad`` as its identifier and text reader see it: what the outlines
    ``over`` it (``stacking``) cover, and what lies off the photo, painted out (``card`` itself
    when nothing is)."""
    return mask_covered(card, visibility(quad, over, image_size))


def at_size(
    card: Image.Image, size: tuple[int, int], resample: Image.Resampling = Image.Resampling.BILINEAR
) -> Image.Image:
    """A rectified card at ``size``: where its size is a whole multiple of it, each block of pixels
    averaged (``Image.reduce``: halving a 630x880 card takes a fraction of a resize), else resampled."""
    factor = card.width // size[0]
    if factor > 1 and card.size == (size[0] * factor, size[1] * factor):
        return card.reduce(factor)
    return card if card.size == size else card.resize(size, resample)
