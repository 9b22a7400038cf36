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
