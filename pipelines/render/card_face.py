"""Card faces drawn from catalog records, at the real proportions (63 x 88 mm, 3 mm corners).

Pokémon: border (yellow before Scarlet & Violet, silver after), type-coloured frame, stage,
name, HP, art window, attacks/abilities/rules, weakness/retreat row and the bottom collector
line exactly as printed: regulation mark, set code, ``012/193``, rarity mark. Flesh and Blood:
pitch strip, name bar, cost, art, type line, text box, power/defence and ``MST131``. Art is
procedural and seeded by the card id: finishes of one card share their art, reprints differ.
Finishes are light effects over the printed face.
Deterministic: the same printing and centering give the same pixels.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines.catalog_sources import CardRecord, PrintingRecord, SetRecord, printed_collector_line
from pipelines.render.art import procedural_art, seed_of

MM = 10  # pixels per millimetre at the native resolution
CARD_W, CARD_H = 63 * MM, 88 * MM
CORNER_RADIUS = 3 * MM
BORDER = int(3.3 * MM)
FONTS = Path(__file__).with_name("fonts")
SV_ERA = date(2023, 3, 31)

TYPE_COLORS = {
    "Grass": (118, 176, 72),
    "Fire": (226, 92, 56),
    "Water": (74, 144, 214),
    "Lightning": (245, 205, 50),
    "Psychic": (168, 104, 190),
    "Fighting": (190, 98, 50),
    "Darkness": (58, 72, 80),
    "Metal": (160, 168, 176),
    "Dragon": (180, 156, 60),
    "Fairy": (232, 140, 190),
    "Colorless": (218, 214, 200),
}
PITCH_COLORS = {1: (200, 40, 40), 2: (235, 200, 40), 3: (40, 90, 200)}
RARITY_MARKS = {"Common": "●", "Uncommon": "◆", "Rare": "★", "Rare Holo": "★", "Promo": "★"}


@cache
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), size)


def bold(size: int) -> ImageFont.FreeTypeFont:
    return font("DejaVuSansCondensed-Bold.ttf", size)


def regular(size: int) -> ImageFont.FreeTypeFont:
    return font("DejaVuSansCondensed.ttf", size)


@dataclass(frozen=True)
class FaceSpec:
    """Everything printed on a card face, taken from the catalog."""

    printing_id: str
    game: str
    name: str
    collector_line: str
    set_code: str
    finish: str
    rarity: str | None = None
    supertype: str | None = None
    subtypes: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    hp: int | None = None
    artist: str | None = None
    regulation_mark: str | None = None
    modern: bool = True
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    card_id: str = ""  # finishes of one card share its art; a reprint (another card id) has its own

    @property
    def art_key(self) -> str:
        return self.card_id or self.printing_id


def face_spec(card: CardRecord, card_set: SetRecord | None, printing: PrintingRecord) -> FaceSpec:
    released = card_set.release_date if card_set else None
    return FaceSpec(
        printing_id=printing.id,
        card_id=card.id,
        game=card.game_id,
        name=card.name,
        collector_line=printed_collector_line(card, card_set),
        set_code=(card_set.code if card_set else None) or "",
        finish=printing.finish,
        rarity=printing.rarity or card.rarity,
        supertype=card.supertype,
        subtypes=tuple(card.subtypes),
        types=tuple(card.types),
        hp=card.hp,
        artist=card.artist,
        regulation_mark=card.details.get("regulationMark"),
        modern=bool(released and released > SV_ERA),
        details=card.details,
    )


def _rounded_mask(size: tuple[int, int], radius: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, size[0] - 1, size[1] - 1], radius=radius, fill=255)
    return mask


def _wrap(
    draw: ImageDraw.ImageDraw,
    xy: tuple[int, int],
    text: str,
    fnt: ImageFont.FreeTypeFont,
    width_chars: int,
    fill: tuple[int, int, int],
    max_lines: int = 4,
) -> int:
    x, y = xy
    for line in textwrap.wrap(text, width_chars)[:max_lines]:
        draw.text((x, y), line, font=fnt, fill=fill)
        y += int(fnt.size * 1.15)
    return y


def _energy(draw: ImageDraw.ImageDraw, x: int, y: int, kind: str, r: int = 11) -> None:
    color = TYPE_COLORS.get(kind, (200, 200, 200))
    draw.ellipse([x - r, y - r, x + r, y + r], fill=color, outline=(30, 30, 30), width=2)


def _inner_pokemon(spec: FaceSpec, size: tuple[int, int]) -> Image.Image:
    w, h = size
    kind = spec.types[0] if spec.types else "Colorless"
    trainer = spec.supertype == "Trainer"
    base = (200, 205, 210) if trainer else TYPE_COLORS.get(kind, (210, 210, 210))
    rng = np.random.default_rng(seed_of(spec.art_key) ^ 0x5EED)
    layer = Image.new("RGB", size, base)
    draw = ImageDraw.Draw(layer)
    light = (min(255, int(base[0] * 1.25) + 30), min(255, int(base[1] * 1.25) + 30), min(255, int(base[2] * 1.25) + 30))
    for i in range(0, h, 6):  # the frame's subtle texture
        draw.line([0, i, w, i + int(rng.integers(-3, 4))], fill=light if i % 12 else base, width=1)
    dark = (25, 25, 25)
    stage = (
        "TRAINER"
        if trainer
        else ("BASIC" if "Basic" in spec.subtypes else (spec.subtypes[0].upper() if spec.subtypes else "BASIC"))
    )
    draw.text((14, 8), stage, font=bold(15), fill=dark)
    draw.text((14, 24), spec.name, font=bold(38 if len(spec.name) < 16 else 30), fill=dark)
    if spec.hp:
        draw.text((w - 150, 30), f"HP{spec.hp}", font=bold(30), fill=(180, 20, 20) if spec.hp > 150 else dark)
        _energy(draw, w - 32, 48, kind, r=16)
    art_box = (26, 76, w - 26, int(h * 0.47))
    art = procedural_art(
        spec.art_key,
        (art_box[2] - art_box[0], art_box[3] - art_box[1]),
        [base, light, (90, 140, 200), (240, 230, 200)],
    )
    layer.paste(art, art_box[:2])
    draw.rectangle(art_box, outline=(120, 100, 40), width=5)
    number = (spec.details.get("nationalPokedexNumbers") or [0])[0]
    draw.text(
        (40, art_box[3] + 6),
        f"NO. {number:04d}  {kind} Pokémon  HT 2'04\"  WT 15.2 lbs.",
        font=font("DejaVuSans-Oblique.ttf", 13),
        fill=dark,
    )
    y = art_box[3] + 34
    for ability in (spec.details.get("abilities") or [])[:1]:
        draw.text((30, y), "Ability", font=bold(20), fill=(200, 30, 30))
        draw.text((120, y), ability.get("name", ""), font=bold(22), fill=dark)
        y = _wrap(draw, (30, y + 28), ability.get("text", ""), regular(16), 62, dark, 3) + 6
    for attack in (spec.details.get("attacks") or [])[:2]:
        for i, cost in enumerate((attack.get("cost") or [])[:4]):
            _energy(draw, 38 + i * 25, y + 14, cost)
        draw.text((150, y), attack.get("name", ""), font=bold(24), fill=dark)
        draw.text((w - 90, y), str(attack.get("damage", "")), font=bold(24), fill=dark)
        y = _wrap(draw, (30, y + 30), attack.get("text", ""), regular(16), 62, dark, 3) + 8
    for rule in (spec.details.get("rules") or [])[:2]:
        y = _wrap(draw, (30, y), rule, regular(16), 62, dark, 4) + 6
    bottom = h - 118
    draw.line([20, bottom, w - 20, bottom], fill=dark, width=2)
    if not trainer:
        weakness = (spec.details.get("weaknesses") or [{}])[0]
        draw.text((30, bottom + 8), "weakness", font=regular(14), fill=dark)
        if weakness:
            _energy(draw, 110, bottom + 17, weakness.get("type", ""), r=9)
            draw.text((124, bottom + 6), weakness.get("value", ""), font=bold(16), fill=dark)
        draw.text((w // 2 - 40, bottom + 8), "resistance", font=regular(14), fill=dark)
        draw.text((w - 170, bottom + 8), "retreat", font=regular(14), fill=dark)
        for i in range(len(spec.details.get("retreatCost") or [])):
            _energy(draw, w - 105 + i * 22, bottom + 17, "Colorless", r=9)
    if spec.artist:
        draw.text((24, h - 72), f"Illus. {spec.artist}", font=bold(15), fill=dark)
    # the collector line, as printed: regulation mark, set code, number/total, rarity mark
    x = 24
    if spec.regulation_mark:
        draw.rounded_rectangle([x, h - 44, x + 24, h - 18], radius=4, fill=(250, 250, 250), outline=dark)
        draw.text((x + 5, h - 44), spec.regulation_mark, font=bold(20), fill=dark)
        x += 34
    if spec.set_code:
        draw.text((x, h - 42), f"{spec.set_code} EN", font=bold(18), fill=dark)
        x += int(bold(18).getlength(f"{spec.set_code} EN")) + 10
    draw.text((x, h - 42), spec.collector_line, font=bold(20), fill=dark)
    x += int(bold(20).getlength(spec.collector_line)) + 8
    draw.text((x, h - 44), RARITY_MARKS.get(spec.rarity or "", "★"), font=font("DejaVuSans-Bold.ttf", 20), fill=dark)
    if spec.finish.startswith("first_edition"):
        draw.ellipse([28, art_box[3] - 44, 68, art_box[3] - 4], fill=(20, 20, 20))
        draw.text((40, art_box[3] - 38), "1", font=bold(24), fill=(250, 250, 250))
    return layer


def _inner_fab(spec: FaceSpec, size: tuple[int, int]) -> Image.Image:
    w, h = size
    pitch = spec.details.get("pitch")
    layer = procedural_art(spec.art_key, size, [(60, 50, 80), (150, 120, 90), (40, 80, 120), (200, 170, 120)])
    draw = ImageDraw.Draw(layer)
    if pitch in PITCH_COLORS:
        draw.rectangle([w // 2 - 60, 0, w // 2 + 60, 14], fill=PITCH_COLORS[pitch])
        for i in range(int(pitch)):
            draw.ellipse([w // 2 - 36 + i * 26, 3, w // 2 - 26 + i * 26, 13], fill=(250, 250, 250))
    parchment = (232, 220, 190)
    dark = (30, 25, 20)
    draw.rounded_rectangle([20, 20, w - 20, 72], radius=10, fill=parchment, outline=dark, width=2)
    draw.text((34, 28), spec.name, font=bold(32 if len(spec.name) < 20 else 24), fill=dark)
    cost = spec.details.get("cost")
    if cost is not None:
        draw.ellipse([w - 70, 24, w - 26, 68], fill=(240, 240, 240), outline=dark, width=2)
        draw.text((w - 56, 30), str(cost), font=bold(28), fill=dark)
    box_top = int(h * 0.56)
    draw.rounded_rectangle([20, box_top, w - 20, h - 70], radius=10, fill=parchment, outline=dark, width=2)
    text = str(spec.details.get("functionalText") or "").replace("**", "")
    _wrap(draw, (36, box_top + 14), text, regular(17), 58, dark, 8)
    draw.rectangle([20, box_top - 36, w - 20, box_top - 4], fill=(20, 20, 20))
    draw.text((34, box_top - 34), str(spec.details.get("typeText") or "Action"), font=bold(20), fill=parchment)
    for value, x in ((spec.details.get("power"), 30), (spec.details.get("defense"), w - 70)):
        if value is not None:
            draw.rounded_rectangle([x, h - 66, x + 40, h - 26], radius=6, fill=parchment, outline=dark)
            draw.text((x + 10, h - 62), str(value), font=bold(24), fill=dark)
    draw.text((w // 2 - 70, h - 52), f"{spec.collector_line}", font=bold(20), fill=(240, 240, 240))
    draw.text((w // 2 + 40, h - 52), (spec.rarity or "C")[0], font=bold(20), fill=(240, 240, 240))
    if spec.artist:
        draw.text((w // 2 - 70, h - 28), spec.artist[:32], font=regular(14), fill=(220, 220, 220))
    return layer


def _foil(
    face: Image.Image,
    finish: str,
    seed: int,
    region: tuple[int, int, int, int] | None,
    exclude: tuple[int, int, int, int] | None,
) -> Image.Image:
    """Rainbow sheen (holo, rainbow foil), silvery pattern (cold foil) or a gold tint."""
    w, h = face.size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = (seed % 1000) / 1000 * 2 * np.pi
    band = (xx * 0.6 + yy) / 90.0 + phase
    rainbow: np.ndarray = np.stack([np.sin(band), np.sin(band + 2.1), np.sin(band + 4.2)], -1) * 0.5 + 0.5
    if finish == "cold_foil":
        rainbow = np.repeat((np.sin(xx / 7) * np.sin(yy / 7) * 0.5 + 0.5)[..., None], 3, -1)
    elif finish == "gold_foil":
        rainbow = np.ones((h, w, 3), np.float32) * np.array([1.0, 0.82, 0.35], np.float32)
    mask = np.zeros((h, w), np.float32)
    if region is not None:
        x0, y0, x1, y1 = region
        mask[y0:y1, x0:x1] = 1.0
    if exclude is not None:
        x0, y0, x1, y1 = exclude
        mask[y0:y1, x0:x1] = 0.0
    strength = 0.35 if finish in ("holofoil", "first_edition_holofoil", "reverse_holofoil") else 0.28
    rgb = np.asarray(face.convert("RGB"), np.float32)
    out = rgb * (1 - strength * mask[..., None]) + 255 * rainbow * strength * mask[..., None]
    result = Image.fromarray(out.clip(0, 255).astype(np.uint8), "RGB")
    result.putalpha(face.getchannel("A"))
    return result


def art_window(inner_box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Where a holofoil shines (and a reverse holofoil does not): the art window inside the printed
    frame ``inner_box`` (x0, y0, x1, y1 in face pixels)."""
    x0, y0, x1, y1 = inner_box
    return x0 + 26, y0 + 76, x1 - 26, y0 + int((y1 - y0) * 0.47)


@dataclass(frozen=True)
class RenderedFace:
    image: Image.Image  # RGBA, transparent outside the rounded card
    inner_box: tuple[int, int, int, int]  # the printed frame inside the border (for centering)


def render_face(spec: FaceSpec, *, centering: tuple[float, float] = (0.5, 0.5)) -> RenderedFace:
    """Draw the face. ``centering`` = (left border share, top border share); 0.5 is perfect."""
    inner_size = (CARD_W - 2 * BORDER, CARD_H - 2 * BORDER)
    if spec.game == "fab":
        border_color = (20, 20, 20)
        inner = _inner_fab(spec, inner_size)
    else:
        border_color = (200, 204, 210) if spec.modern else (246, 210, 60)
        inner = _inner_pokemon(spec, inner_size)
    face = Image.new("RGB", (CARD_W, CARD_H), border_color)
    x0 = round(2 * BORDER * min(max(centering[0], 0.02), 0.98))
    y0 = round(2 * BORDER * min(max(centering[1], 0.02), 0.98))
    face.paste(inner, (x0, y0))
    face.putalpha(_rounded_mask(face.size, CORNER_RADIUS))
    inner_box = (x0, y0, x0 + inner_size[0], y0 + inner_size[1])
    seed = seed_of(spec.printing_id)
    if spec.finish in ("holofoil", "first_edition_holofoil"):
        face = _foil(face, spec.finish, seed, art_window(inner_box), None)
    elif spec.finish == "reverse_holofoil":
        face = _foil(face, spec.finish, seed, inner_box, art_window(inner_box))
    elif spec.finish in ("rainbow_foil", "cold_foil", "gold_foil"):
        face = _foil(face, spec.finish, seed, (0, 0, CARD_W, CARD_H), None)
    return RenderedFace(face, inner_box)


def render_back(game: str) -> Image.Image:
    """The back of a card (a negative for the detector: there is nothing to identify)."""
    face = Image.new("RGB", (CARD_W, CARD_H), (30, 60, 150) if game == "pokemon" else (25, 22, 30))
    draw = ImageDraw.Draw(face)
    if game == "pokemon":
        draw.rectangle([BORDER, BORDER, CARD_W - BORDER, CARD_H - BORDER], fill=(40, 90, 190))
        for r in range(300, 0, -40):
            draw.ellipse(
                [CARD_W / 2 - r, CARD_H / 2 - r * 1.2, CARD_W / 2 + r, CARD_H / 2 + r * 1.2],
                outline=(70, 120, 220),
                width=8,
            )
        draw.pieslice(
            [CARD_W / 2 - 110, CARD_H / 2 - 110, CARD_W / 2 + 110, CARD_H / 2 + 110], 180, 360, fill=(220, 30, 40)
        )
        draw.pieslice(
            [CARD_W / 2 - 110, CARD_H / 2 - 110, CARD_W / 2 + 110, CARD_H / 2 + 110], 0, 180, fill=(245, 245, 245)
        )
        draw.line([CARD_W / 2 - 110, CARD_H / 2, CARD_W / 2 + 110, CARD_H / 2], fill=(20, 20, 20), width=14)
        draw.ellipse(
            [CARD_W / 2 - 30, CARD_H / 2 - 30, CARD_W / 2 + 30, CARD_H / 2 + 30],
            fill=(245, 245, 245),
            outline=(20, 20, 20),
            width=10,
        )
    else:
        draw.rounded_rectangle([60, 80, CARD_W - 60, CARD_H - 80], radius=30, outline=(180, 150, 90), width=10)
        draw.text((CARD_W / 2 - 120, CARD_H / 2 - 40), "FLESH\n& BLOOD", font=bold(56), fill=(200, 170, 100))
    face.putalpha(_rounded_mask(face.size, CORNER_RADIUS))
    return face
