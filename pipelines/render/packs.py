"""Booster packs printed the way real ones are: what a scan must not take for a card.

The scene composer's plain wrapper (``scenes._negative``) is a coloured sheet with ``BOOSTER`` on it.
A real pack is printed all over: the game's logo, the expansion's name (a real set name from the
catalog here), large artwork, ``BOOSTER PACK`` and ``10 ADDITIONAL GAME CARDS``, on glossy foil with
crimped seals, taller and narrower than a card. ``printed_pack`` draws one, seeded, for photos of a
pack alone (``benchmarks/no_cards.py --printed-packs``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipelines.catalog_sources import Catalog
from pipelines.render.art import procedural_art
from pipelines.render.card_face import CARD_H, CARD_W, bold, regular

# a Pokémon booster pack is about 74 x 135 mm between its seals (a card 63 x 88)
PACK_SIZE = (int(CARD_W * 1.18), int(CARD_H * 1.6))
SEAL = 44  # px of crimped seal at each end
LOGOS = {
    "pokemon": ("Pokémon", "TRADING CARD GAME", (255, 203, 5), (42, 82, 170)),
    "fab": ("FLESH AND BLOOD", "TRADING CARD GAME", (226, 190, 120), (60, 20, 20)),
}


def pack_titles(catalogs: Sequence[Catalog]) -> dict[str, list[str]]:
    """Per game, the names of its catalog's sets: what a pack of it is titled with."""
    return {c.game_id: sorted({s.name for s in c.sets}) for c in catalogs}


def _centred(
    draw: ImageDraw.ImageDraw,
    y: float,
    text: str,
    size: int,
    fill: tuple[int, ...],
    *,
    heavy: bool = True,
    stroke: tuple[int, tuple[int, ...]] | None = None,
) -> None:
    """``text`` centred across the pack at height ``y``, bold unless not ``heavy``, with a ``stroke``
    (width, colour) round its letters if given."""
    font = bold(size) if heavy else regular(size)
    width = draw.textlength(text, font=font)
    outline = {"stroke_width": stroke[0], "stroke_fill": stroke[1]} if stroke else {}
    draw.text(((PACK_SIZE[0] - width) / 2, y), text, font=font, fill=fill, **outline)  # type: ignore[arg-type]


def printed_pack(rng: np.random.Generator, game: str, expansion: str) -> Image.Image:
    """One booster pack of ``game`` (``pokemon``/``fab``) from the expansion named ``expansion``: RGBA,
    transparent outside the pack's outline (its seals' teeth)."""
    w, h = PACK_SIZE
    low, high = rng.integers(20, 230, 3), rng.integers(20, 230, 3)
    t = np.linspace(0, 1, h)[:, None, None]
    body = ((low * (1 - t) + high * t) * np.ones((1, w, 1))).clip(0, 255).astype(np.uint8)
    pack = Image.fromarray(body, "RGB").convert("RGBA")
    palette = [(int(r), int(g), int(b)) for r, g, b in rng.integers(30, 240, (4, 3))]
    art_box = (30, int(h * 0.3), w - 30, int(h * 0.8))
    art = procedural_art(
        f"pack:{expansion}:{int(rng.integers(1 << 30))}", (art_box[2] - art_box[0], art_box[3] - art_box[1]), palette
    )
    feather = Image.new("L", art.size, 0)
    ImageDraw.Draw(feather).rounded_rectangle([8, 8, art.width - 8, art.height - 8], radius=40, fill=255)
    pack.paste(art, art_box[:2], feather.filter(ImageFilter.GaussianBlur(10)))
    draw = ImageDraw.Draw(pack)
    logo, tagline, fill, stroke = LOGOS.get(game, LOGOS["pokemon"])
    _centred(draw, SEAL + 18, logo, 104 if game == "pokemon" else 58, fill, stroke=(6, stroke))
    _centred(draw, SEAL + 138, tagline, 28, (250, 250, 250), heavy=False)
    banner_y = int(h * 0.21)
    draw.rectangle([0, banner_y, w, banner_y + 70], fill=(*(int(c) for c in rng.integers(0, 90, 3)), 230))
    title = expansion.upper() if len(expansion) <= 18 else expansion
    size = 54
    while size > 24 and draw.textlength(title, font=bold(size)) > w - 40:
        size -= 2
    _centred(draw, banner_y + (70 - size) / 2 - 4, title, size, (255, 255, 255), stroke=(2, (0, 0, 0)))
    _centred(draw, h * 0.83, "BOOSTER PACK", 46, (255, 255, 255), stroke=(3, (20, 20, 20)))
    _centred(draw, h * 0.83 + 62, "10 ADDITIONAL GAME CARDS", 26, (250, 250, 250), heavy=False)
    # the foil's sheen: a few soft diagonal streaks
    sheen = Image.new("RGBA", pack.size, (255, 255, 255, 0))
    streaks = ImageDraw.Draw(sheen)
    for _ in range(int(rng.integers(1, 4))):
        x = rng.uniform(-0.3, 1.0) * w
        streaks.polygon([(x, 0), (x + w * 0.12, 0), (x + w * 0.5, h), (x + w * 0.38, h)], fill=(255, 255, 255, 60))
    pack.alpha_composite(sheen.filter(ImageFilter.GaussianBlur(12)))
    # crimped seals: ridged silver-tinted ends with a row of teeth
    seal = ImageDraw.Draw(pack)
    tint = tuple(int(c * 0.6 + 90) for c in low)
    for top in (True, False):
        y0, y1 = (0, SEAL) if top else (h - SEAL, h)
        seal.rectangle([0, y0, w, y1], fill=(*tint, 255))
        for x in range(0, w, 6):
            seal.line([(x, y0), (x, y1)], fill=(*(max(0, c - 40) for c in tint), 255), width=2)
    mask = Image.new("L", pack.size, 255)
    teeth = ImageDraw.Draw(mask)
    for x in range(0, w, 16):
        teeth.polygon([(x, 0), (x + 8, 10), (x + 16, 0)], fill=0)
        teeth.polygon([(x, h), (x + 8, h - 10), (x + 16, h)], fill=0)
    pack.putalpha(mask)
    return pack
