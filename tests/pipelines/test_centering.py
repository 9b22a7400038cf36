"""Geometric centering against rendered cards of known centering (target: within 2 points)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from models.centering import measure_centering
from pipelines.catalog_sources import Catalog
from pipelines.render.card_face import face_spec, render_face
from pipelines.render.condition import apply_wear, sample_condition


def _flatten(face: Image.Image) -> Image.Image:
    background = Image.new("RGB", face.size, (40, 40, 40))
    background.paste(face, (0, 0), face)
    return background


@pytest.mark.parametrize("card_id", ["sv2-12", "base1-4", "MST131", "sv3pt5-6"])
def test_centering_within_two_points(catalogs: list[Catalog], card_id: str) -> None:
    rng = np.random.default_rng(1)
    errors = []
    for catalog in catalogs:
        sets = {s.id: s for s in catalog.sets}
        for card in catalog.cards:
            if card.id != card_id:
                continue
            spec = face_spec(card, sets[card.set_id], card.printings[0])
            for lr, tb in ((0.5, 0.5), (0.6, 0.45), (0.38, 0.57), (0.66, 0.66)):
                condition = sample_condition(rng)
                face = apply_wear(render_face(spec, centering=(lr, tb)).image, condition, rng)
                photo = _flatten(face).filter(ImageFilter.GaussianBlur(0.8))
                measured = measure_centering(photo)
                errors += [abs(measured.left_share - lr), abs(measured.top_share - tb)]
    assert errors and max(errors) <= 0.02, errors
    assert measure_centering(_flatten(render_face(spec, centering=(0.55, 0.5)).image)).ratio().startswith("55/45 LR")


def test_a_covered_side_is_reported_hidden_not_guessed(catalogs: list[Catalog]) -> None:
    """A neighbour over the card's left side: the left/right axis is not measured (the grade takes
    the rubric's fallback for it), top/bottom still is; with nothing over it, both are measured."""
    from models.grading import CENTERING_TRUST, HIDDEN_AXIS_GRADE, combine
    from models.rectify import visibility

    catalog = catalogs[0]
    sets = {s.id: s for s in catalog.sets}
    card = next(c for c in catalog.cards if c.id == "sv2-12")
    spec = face_spec(card, sets[card.set_id], card.printings[0])
    flat = _flatten(render_face(spec, centering=(0.7, 0.55)).image)
    w, h = flat.size
    quad = np.array([[100, 100], [100 + w, 100], [100 + w, 100 + h], [100, 100 + h]], float)
    neighbour = np.array([[0, 0], [100 + 0.2 * w, 0], [100 + 0.2 * w, 200 + h], [0, 200 + h]], float)
    covered = visibility(quad, [neighbour], (w + 200, h + 200))
    assert not covered[:, :5].any() and covered[:, 20:].all()
    measured = measure_centering(flat, visible=covered)
    assert measured.hidden == {"left"} and not measured.lr_measured and measured.tb_measured
    assert abs(measured.top_share - 0.55) <= 0.02 and measured.ratio().startswith("LR hidden, 55/45 TB")
    subgrades = np.array([10.0, 10.0, 10.0])
    hidden = combine(subgrades, flat, visible=covered)
    assert hidden.centering == HIDDEN_AXIS_GRADE and hidden.centering_lr is None and hidden.centering_tb is not None
    seen = combine(subgrades, flat, visible=visibility(quad, [], (w + 200, h + 200)))
    # measured 70/30; the grade follows the measurement CENTERING_TRUST of the way: 62/38, the rubric's 8
    assert abs(seen.centering_lr - 0.7) <= 0.02 and seen.centering_ratio.startswith("70/30 LR")
    assert CENTERING_TRUST == 0.6 and seen.centering == 8.0
    # a card running out of the photo: its right side has no pixels there
    cut = visibility(quad, [], (100 + int(0.9 * w), h + 200))
    assert measure_centering(flat, visible=cut).hidden == {"right"}
