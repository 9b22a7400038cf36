"""Card condition: wear drawn with known parameters, and the rubric that grades them.

Parameters (all severities 0 = pristine .. 1 = worst):

- centering: left share and top share of the border (0.5 = perfect; 0.6 = "60/40")
- corners: whitening, rounding and dings per corner (TL, TR, BR, BL)
- edges: whitening and chipping per edge (top, right, bottom, left)
- surface: scratches, creases, stains, print lines

Rubric (documented here, used for labels and by the grader's training):

- centering subgrade from the worse of the two axes' larger share s (front):
  s <= 0.55 -> 10, <= 0.60 -> 9, <= 0.65 -> 8, <= 0.70 -> 7, <= 0.75 -> 6, <= 0.80 -> 5,
  <= 0.85 -> 4, <= 0.90 -> 3, else 2 (PSA: a 10 needs 55/45, a 9 60/40)
- corners = 10 - 8 * max_corner(0.6 whitening + 0.3 rounding + 0.5 dings, capped at 1)
- edges = 10 - 8 * max_edge(0.6 whitening + 0.6 chipping, capped at 1)
- surface = 10 - 9 * min(1, 0.35 scratches + 0.9 creases + 0.6 stains + 0.3 print lines)
- subgrades round down to half steps, floor 1
- overall (BGS convention): the mean of the subgrades rounded down to a half step, and at most
  the lowest subgrade + 0.5; a centering subgrade under 9 also caps a 10 at 9.5 (PSA: no 10
  past 55/45, no 9 past 60/40 -> the overall is at most the centering subgrade + 0.5)
- TCG condition from the overall: >= 8.5 NM, >= 7 LP, >= 5 MP, >= 3 HP, else DMG
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipelines.render.card_face import CORNER_RADIUS

CENTERING_STEPS = (
    (0.55, 10.0),
    (0.60, 9.0),
    (0.65, 8.0),
    (0.70, 7.0),
    (0.75, 6.0),
    (0.80, 5.0),
    (0.85, 4.0),
    (0.90, 3.0),
)


def _four() -> list[float]:
    return [0.0, 0.0, 0.0, 0.0]


@dataclass
class ConditionParams:
    centering_lr: float = 0.5
    centering_tb: float = 0.5
    corner_whitening: list[float] = field(default_factory=_four)
    corner_rounding: list[float] = field(default_factory=_four)
    corner_dings: list[float] = field(default_factory=_four)
    edge_whitening: list[float] = field(default_factory=_four)
    edge_chipping: list[float] = field(default_factory=_four)
    scratches: float = 0.0
    creases: float = 0.0
    stains: float = 0.0
    print_lines: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Grades:
    centering: float
    corners: float
    edges: float
    surface: float
    overall: float
    condition: str


def _half_down(value: float) -> float:
    return max(1.0, math.floor(value * 2 + 1e-9) / 2)


def centering_grade(lr: float, tb: float) -> float:
    worst = max(lr, 1 - lr, tb, 1 - tb)
    for limit, grade in CENTERING_STEPS:
        if worst <= limit + 1e-9:
            return grade
    return 2.0


# the rubric's weight of each kind of corner wear in a corner's damage
CORNER_WEIGHTS = {"whitening": 0.6, "rounding": 0.3, "dings": 0.5}


def corner_damages(p: ConditionParams) -> list[float]:
    """Each corner's damage (TL, TR, BR, BL), 0..1: 0.6 whitening + 0.3 rounding + 0.5 dings."""
    parts = zip(p.corner_whitening, p.corner_rounding, p.corner_dings, strict=True)
    k = CORNER_WEIGHTS
    return [min(1.0, k["whitening"] * w + k["rounding"] * r + k["dings"] * d) for w, r, d in parts]


def edge_damages(p: ConditionParams) -> list[float]:
    """Each edge's damage (top, right, bottom, left), 0..1: 0.6 whitening + 0.6 chipping."""
    return [min(1.0, 0.6 * w + 0.6 * c) for w, c in zip(p.edge_whitening, p.edge_chipping, strict=True)]


def damage_subgrade(damage: float) -> float:
    """The corners or edges subgrade from the worst corner's or edge's damage."""
    return _half_down(10 - 8 * damage)


def grade(p: ConditionParams) -> Grades:
    centering = centering_grade(p.centering_lr, p.centering_tb)
    surface_damage = min(1.0, 0.35 * p.scratches + 0.9 * p.creases + 0.6 * p.stains + 0.3 * p.print_lines)
    corners = damage_subgrade(max(corner_damages(p)))
    edges = damage_subgrade(max(edge_damages(p)))
    surface = _half_down(10 - 9 * surface_damage)
    return overall_grade(centering, corners, edges, surface)


def overall_grade(centering: float, corners: float, edges: float, surface: float) -> Grades:
    """The overall grade and TCG condition from the four subgrades (each snapped to half steps)."""
    centering, corners, edges, surface = (_half_down(min(10.0, g)) for g in (centering, corners, edges, surface))
    subgrades = (centering, corners, edges, surface)
    overall = min(_half_down(sum(subgrades) / 4), min(subgrades) + 0.5, centering + 0.5)
    condition = (
        "NM" if overall >= 8.5 else "LP" if overall >= 7 else "MP" if overall >= 5 else "HP" if overall >= 3 else "DMG"
    )
    return Grades(centering, corners, edges, surface, overall, condition)


def sample_condition(rng: np.random.Generator) -> ConditionParams:
    """A plausible mix: most cards near mint, a tail of played and damaged ones."""
    tier = rng.choice(["mint", "light", "played", "heavy"], p=[0.45, 0.3, 0.17, 0.08])
    scale = {"mint": 0.08, "light": 0.3, "played": 0.6, "heavy": 0.95}[tier]

    def sev(n: int) -> list[float]:
        return [float(v) for v in np.clip(rng.beta(1.2, 6, n) * scale * 2.2, 0, 1)]

    off = rng.normal(0, 0.05 if tier == "mint" else 0.09, 2)
    return ConditionParams(
        centering_lr=float(np.clip(0.5 + off[0], 0.15, 0.85)),
        centering_tb=float(np.clip(0.5 + off[1], 0.15, 0.85)),
        corner_whitening=sev(4),
        corner_rounding=sev(4),
        corner_dings=[v * float(rng.random() < 0.3) for v in sev(4)],
        edge_whitening=sev(4),
        edge_chipping=[v * float(rng.random() < 0.4) for v in sev(4)],
        scratches=float(sev(1)[0]),
        creases=float(sev(1)[0] * (rng.random() < 0.15 * (scale > 0.3))),
        stains=float(sev(1)[0] * (rng.random() < 0.1)),
        print_lines=float(sev(1)[0] * (rng.random() < 0.15)),
    )


def _ding(img: Image.Image, corner: tuple[int, int], ding: float, jitter: list[float]) -> Image.Image:
    """A dinged corner: the tip bent and pressed back, so a fold line runs across the corner (the
    ink cracked white along it, a thin shadow beside it) and the tip beyond it catches the light
    differently. The fold lies 2-6 mm from the corner along each edge as the ding grows (up to
    session 12 a ding was a sliver a few pixels wide, mostly cut away by the rounded corner: the
    wear network read it at 0.07 of its weight in the rubric). ``jitter``: four numbers in -1..1 (the fold's
    reach along either edge, the tip's shading, the fold's bow)."""
    cx, cy = corner
    sx, sy = (1 if cx == 0 else -1), (1 if cy == 0 else -1)  # towards the card's inside
    reach = 18 + 45 * ding
    a, b = reach * (1 + 0.3 * jitter[0]), reach * (1 + 0.3 * jitter[1])
    p1, p2 = (cx + sx * a, cy), (cx, cy + sy * b)
    bow = 0.15 * jitter[3] * reach
    mid = ((p1[0] + p2[0]) / 2 + sx * bow, (p1[1] + p2[1]) / 2 + sy * bow)
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    shade = (255, 255, 255) if jitter[2] > 0 else (0, 0, 0)
    draw.polygon([(cx, cy), p1, mid, p2], fill=(*shade, int(255 * (0.12 + 0.25 * ding))))
    shadow = [(x + sx * 2, y + sy * 2) for x, y in (p1, mid, p2)]
    draw.line(shadow, fill=(30, 30, 30, int(60 + 100 * ding)), width=2)
    draw.line([p1, mid, p2], fill=(242, 240, 232, 255), width=max(1, round(1 + 2.5 * ding)))
    return Image.alpha_composite(img, layer)


def apply_wear(face: Image.Image, p: ConditionParams, rng: np.random.Generator) -> Image.Image:
    """Draw the wear onto an RGBA face (centering is applied when the face is rendered)."""
    img = face.copy()
    w, h = img.size
    alpha = img.getchannel("A")
    draw = ImageDraw.Draw(img)
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    white = (245, 245, 240, 255)
    for (cx, cy), whitening, rounding, ding in zip(
        corners, p.corner_whitening, p.corner_rounding, p.corner_dings, strict=True
    ):
        # Whitening follows the corner's rounded outline (the face's own radius, or the
        # larger one a worn corner is cut to below), from a little before the arc to a
        # little after it, reaching further in the heavier it is. Dots placed around the
        # sharp corner point would fall outside the rounded card and never show: light
        # whitening (0.2 and under) drew no visible pixel up to session 13.
        arc = CORNER_RADIUS + 60 * rounding if rounding > 0.05 else CORNER_RADIUS
        inward_x, inward_y = (1 if cx == 0 else -1), (1 if cy == 0 else -1)
        centre = (cx + inward_x * arc, cy + inward_y * arc)
        for _ in range(int(whitening * 120)):
            r = rng.uniform(0, 40 * whitening + 4)
            a = rng.uniform(0, math.pi / 2)
            s = rng.uniform(1, 3)
            along = a / (math.pi / 2) * (1 + whitening) - whitening / 2
            depth = 0.4 * r
            if along < 0:  # on the straight edge before the arc
                x, y = cx + inward_x * depth, centre[1] - inward_y * along * arc * math.pi / 2
            elif along > 1:  # on the straight edge after it
                x, y = centre[0] + inward_x * (along - 1) * arc * math.pi / 2, cy + inward_y * depth
            else:
                angle, reach = along * math.pi / 2, arc - depth
                x, y = centre[0] - inward_x * reach * math.cos(angle), centre[1] - inward_y * reach * math.sin(angle)
            draw.ellipse([x - s, y - s, x + s, y + s], fill=white)
        if rounding > 0.05:  # a worn corner: cut a larger radius from the alpha
            radius = int(arc)
            mask = Image.new("L", (radius, radius), 0)
            ImageDraw.Draw(mask).pieslice([0, 0, 2 * radius, 2 * radius], 180, 270, fill=255)
            corner = mask.rotate({(0, 0): 0, (w, 0): -90, (w, h): 180, (0, h): 90}[(cx, cy)], expand=True)
            box = (0 if cx == 0 else w - radius, 0 if cy == 0 else h - radius)
            alpha.paste(corner, box, Image.eval(corner, lambda v: 255 - v))
        if ding > 0.05:
            img = _ding(img, (cx, cy), ding, [float(rng.uniform(-1, 1)) for _ in range(4)])
            draw = ImageDraw.Draw(img)
    edges = [((0, 0), (w, 0)), ((w, 0), (w, h)), ((0, h), (w, h)), ((0, 0), (0, h))]
    for ((x0, y0), (x1, y1)), whitening, chipping in zip(edges, p.edge_whitening, p.edge_chipping, strict=True):
        for _ in range(int(whitening * 200)):
            t = rng.random()
            x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            depth = rng.uniform(0, 6 + 10 * whitening)
            x += depth if x0 == x1 == 0 else -depth if x0 == x1 else 0
            y += depth if y0 == y1 == 0 else -depth if y0 == y1 else 0
            draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=white)
        for _ in range(int(chipping * 12)):
            t = rng.random()
            x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            s = rng.uniform(3, 10) * (0.5 + chipping)
            draw.ellipse([x - s, y - s, x + s, y + s], fill=(235, 232, 225, 255))
    for _ in range(int(p.scratches * 12)):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        length, angle = rng.uniform(40, 300), rng.uniform(0, math.pi)
        draw.line(
            [x, y, x + length * math.cos(angle), y + length * math.sin(angle)],
            fill=(255, 255, 255, int(90 + 120 * p.scratches)),
            width=1,
        )
    if p.creases > 0.05:
        line = (float(rng.uniform(0, w)), 0.0, float(rng.uniform(0, w)), float(h))
        if rng.random() < 0.5:
            line = (0.0, float(rng.uniform(0, h)), float(w), float(rng.uniform(0, h)))
        ax, ay, bx, by = line
        draw.line([ax, ay, bx, by], fill=(255, 255, 255, int(120 + 130 * p.creases)), width=int(2 + 4 * p.creases))
        draw.line([ax + 3, ay + 3, bx + 3, by + 3], fill=(40, 40, 40, int(60 + 100 * p.creases)), width=2)
    if p.stains > 0.05:
        stain = Image.new("RGBA", img.size, (0, 0, 0, 0))
        sx, sy, r = rng.uniform(0, w), rng.uniform(0, h), 40 + 120 * p.stains
        ImageDraw.Draw(stain).ellipse(
            [sx - r, sy - r * 0.7, sx + r, sy + r * 0.7], fill=(120, 90, 40, int(40 + 90 * p.stains))
        )
        img = Image.alpha_composite(img, stain.filter(ImageFilter.GaussianBlur(12)))
        draw = ImageDraw.Draw(img)
    for _ in range(int(p.print_lines * 6)):
        if rng.random() < 0.5:
            y = rng.uniform(0, h)
            draw.line([0, y, w, y], fill=(255, 255, 255, int(50 + 80 * p.print_lines)), width=1)
        else:
            x = rng.uniform(0, w)
            draw.line([x, 0, x, h], fill=(255, 255, 255, int(50 + 80 * p.print_lines)), width=1)
    img.putalpha(Image.fromarray(np.minimum(np.asarray(alpha), np.asarray(face.getchannel("A")))))
    return img
