"""The face check: how much the part of a card the photo shows looks like each candidate's face.

The embedding compares whole cards. A card half under another one, its collector line hidden,
is embedded mostly from the paint that covers the hidden part, and its art may not choose among
the printings of the name read. Comparing pixels settles it the way retrieval systems verify
their first candidates: the rectified card and each candidate's reference face, both reduced to
the 63 x 88 grid of ``models.rectify.visibility`` (one cell per 10 x 10 px of the card), are
correlated over the cells the photo shows (normalised per colour channel, so light and white
balance do not count), allowing the printed frame to sit a few cells off (centering).

Reference faces come from a :class:`FaceSource`; here the catalog's faces are drawn by the same
renderer that draws the index's reference faces (``pipelines.render``), once per card and kept.
A production catalog of photographed faces would be another source with the same interface.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import numpy as np
from PIL import Image

from models.centering import HEIGHT, WIDTH
from pipelines.catalog_sources import CardRecord, Catalog, SetRecord

GRID = (WIDTH // 10, HEIGHT // 10)  # (63, 88): the cells of models.rectify.visibility
SHIFT = 2  # cells the printed frame may sit off the card's centre either way (20 px of 630: centering)
MIN_CELLS = 400  # fewer cells in view than this (7% of the card) say nothing
# where the printings of one name differ most: their art. The rows 10-50% down the card (the art
# window, whatever the game's layout) count this many times as much as the rest (frame, text box)
ART_ROWS = (0.1, 0.5)
ART_WEIGHT = 3.0
CACHE = 4096  # faces kept (16.6 KB each, uint8 at the grid's size: 68 MB at most)


class FaceSource(Protocol):
    def face(self, card_id: str, finish: str) -> np.ndarray | None:
        """The card's face in ``finish`` as (88, 63, 3) uint8 on a mid grey, or None when it has none."""
        ...


def reduced(card: Image.Image) -> np.ndarray:
    """A rectified card (or a reference face, RGBA on grey) at the grid's size, (88, 63, 3) uint8;
    a 630 x 880 card is averaged in 10 x 10 blocks."""
    rgb = card.convert("RGB")
    if rgb.size == (GRID[0] * 10, GRID[1] * 10):
        return np.asarray(rgb.reduce(10))
    return np.asarray(rgb.resize(GRID, Image.Resampling.BOX))


class RenderedFaces:
    """The catalog's faces drawn by ``pipelines.render`` (as the index's reference faces are): the
    ``CACHE`` most recently used kept in memory and, with a ``folder``, every face drawn kept there
    as a small ``.npy`` file (drawing one takes ~25 ms on this CPU, reading it back well under one;
    ``cardvault index-faces`` draws a whole catalog's ahead of the scans)."""

    def __init__(self, catalogs: Sequence[Catalog], folder: Path | None = None) -> None:
        self.folder = folder
        self.records: dict[str, tuple[CardRecord, SetRecord | None]] = {}
        for catalog in catalogs:
            sets = {s.id: s for s in catalog.sets}
            for card in catalog.cards:
                self.records[card.id] = (card, sets.get(card.set_id))
        self.cache: OrderedDict[tuple[str, str], np.ndarray | None] = OrderedDict()
        self.lock = threading.Lock()

    def face(self, card_id: str, finish: str) -> np.ndarray | None:
        key = (card_id, finish)
        with self.lock:  # scans run their face checks in worker threads side by side
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        found = self._stored(card_id, finish)  # drawn outside the lock: two threads may both draw it
        with self.lock:
            self.cache[key] = found
            while len(self.cache) > CACHE:
                self.cache.popitem(last=False)
        return found

    def path(self, card_id: str, finish: str) -> Path | None:
        """Where the face is kept on disk (None without a folder)."""
        if self.folder is None:
            return None
        return self.folder / f"{quote(card_id, safe='')}.{quote(finish, safe='')}.npy"

    def _stored(self, card_id: str, finish: str) -> np.ndarray | None:
        """The face from the folder, or drawn and written there (atomically: a scan reading it while
        another writes it sees the whole file or none)."""
        path = self.path(card_id, finish)
        if path is not None and path.exists():
            try:
                kept: np.ndarray = np.load(path)
                if kept.shape == (GRID[1], GRID[0], 3):
                    return kept
            except (OSError, ValueError):
                pass  # a damaged file is drawn again
        drawn = self._draw(card_id, finish)
        if drawn is not None and path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                np.save(out, drawn)
            os.replace(temporary, path)
        return drawn

    def _draw(self, card_id: str, finish: str) -> np.ndarray | None:
        from pipelines.render.card_face import face_spec, render_face

        record = self.records.get(card_id)
        if record is None:
            return None
        card, card_set = record
        if not card.printings:
            return None
        printing = next(
            (p for p in card.printings if p.finish.removeprefix("first_edition_") == finish), card.printings[0]
        )
        drawn = render_face(face_spec(card, card_set, printing)).image
        flat = Image.new("RGB", drawn.size, (128, 128, 128))
        flat.paste(drawn, (0, 0), drawn)
        return reduced(flat)


def cell_weights(rows: int, cols: int) -> np.ndarray:
    """Each cell's weight in the likeness: ``ART_WEIGHT`` in the art rows, 1 elsewhere."""
    weights = np.ones((rows, cols), np.float32)
    weights[int(ART_ROWS[0] * rows) : int(ART_ROWS[1] * rows)] = ART_WEIGHT
    return weights


def likeness(card: np.ndarray, faces: np.ndarray, seen: np.ndarray, shift: int = SHIFT) -> np.ndarray:
    """The weighted correlation (0..1, negative as 0) of a card's cells in view (``seen``, (88, 63)
    bool) with each face's (``faces``: (K, 88, 63, 3)), at the best of the face's placements up to
    ``shift`` cells off; the art rows weigh ``ART_WEIGHT`` times as much as the rest; 0 with too
    few cells in view. All faces at once: ~1 ms a placement for 20 faces."""
    best = np.zeros(len(faces), np.float32)
    if int(seen.sum()) < MIN_CELLS or not len(faces):
        return best
    a = card.astype(np.float32)
    b = faces.astype(np.float32)
    h, w = seen.shape
    weights = cell_weights(h, w)
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            # the card's cell (y, x) against the faces' (y - dy, x - dx)
            ys, yd = slice(max(0, dy), h + min(0, dy)), slice(max(0, -dy), h + min(0, -dy))
            xs, xd = slice(max(0, dx), w + min(0, dx)), slice(max(0, -dx), w + min(0, -dx))
            m = seen[ys, xs]
            if int(m.sum()) < MIN_CELLS:
                continue
            weight = weights[ys, xs][m][:, None]  # (cells, 1)
            total = float(weight.sum())
            x = a[ys, xs][m]  # (cells, 3)
            y = b[:, yd, xd][:, m]  # (K, cells, 3)
            x = x - (x * weight).sum(axis=0) / total
            y = y - (y * weight).sum(axis=1, keepdims=True) / total
            numerator = np.einsum("mc,kmc->k", x * weight, y)
            denominator = np.sqrt(float((x * x * weight).sum()) * (y * y * weight).sum(axis=(1, 2)))
            best = np.maximum(best, numerator / np.maximum(denominator, 1e-6))
    return best


def likenesses(
    source: FaceSource, card: Image.Image, seen: np.ndarray, finish: str, card_ids: Sequence[str]
) -> dict[str, float]:
    """The likeness of a rectified card (``seen``: its cells in view) to each card's face in the
    finish read; cards the source has no face of are left out."""
    drawn = [(card_id, source.face(card_id, finish)) for card_id in card_ids]
    known = [(card_id, face) for card_id, face in drawn if face is not None]
    if not known:
        return {}
    found = likeness(reduced(card), np.stack([face for _, face in known]), seen)
    return {card_id: round(float(v), 4) for (card_id, _), v in zip(known, found, strict=True)}
