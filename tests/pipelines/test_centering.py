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
    flat = _flatten(render_face(spec, centering=(0.67, 0.55)).image)
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
    # measured 67/33; the grade follows the measurement all the way (CENTERING_TRUST): the rubric's 7
    assert abs(seen.centering_lr - 0.67) <= 0.02 and seen.centering_ratio.startswith("67/33 LR")
    assert CENTERING_TRUST == 1.0 and seen.centering == 7.0
    # a card running out of the photo: its right side has no pixels there
    cut = visibility(quad, [], (100 + int(0.9 * w), h + 200))
    assert measure_centering(flat, visible=cut).hidden == {"right"}


@pytest.mark.parametrize("card_id", ["sv2-12", "MST131"])
def test_padded_crop_measures_from_the_cards_own_edges(catalogs: list[Catalog], card_id: str) -> None:
    """A small, blurred card whose corners are off by several pixels (as a detector's are): with the
    photo around it, each border is measured from the card's edge the photo shows, within two
    points; from the corners' edges the same crop is several points off."""
    from models.rectify import rectify_card, unpad

    card, set_ = next(
        (c, {s.id: s for s in cat.sets}[c.set_id]) for cat in catalogs for c in cat.cards if c.id == card_id
    )
    spec = face_spec(card, set_, card.printings[0])
    face = render_face(spec, centering=(0.57, 0.44)).image
    table = Image.new("RGB", (face.width + 400, face.height + 400), (70, 110, 60))
    table.paste(face, (200, 200), face)
    scale = 0.4  # a card about 250 x 350 px in the photo
    photo = table.resize((round(table.width * scale), round(table.height * scale)), Image.BILINEAR)
    photo = photo.filter(ImageFilter.GaussianBlur(0.7))
    true = (np.array([[200, 200], [830, 200], [830, 1080], [200, 1080]], float)) * scale
    off = true + np.array([[-3.0, 2.0], [2.5, 3.0], [3.0, -2.0], [-2.0, -3.5]])  # photo pixels
    padded = rectify_card(photo, off, margin=24)
    assert padded.size == (630 + 48, 880 + 48)
    assert np.abs(np.asarray(unpad(padded, 24), float) - np.asarray(rectify_card(photo, off), float)).max() <= 1
    edges = measure_centering(padded, margin=24)
    assert abs(edges.left_share - 0.57) <= 0.02 and abs(edges.top_share - 0.44) <= 0.02, edges
    nominal = measure_centering(rectify_card(photo, off))
    assert max(abs(nominal.left_share - 0.57), abs(nominal.top_share - 0.44)) > 0.04, nominal


def test_an_axis_whose_borders_do_not_add_up_is_not_measured() -> None:
    """Borders are printed the same width all round: an axis whose two widths add up to far more
    or less than the other axis's (it found art, not the frame) is reported unmeasured."""
    from models.centering import BORDER_TOTAL, Centering, _plausible

    good = _plausible(30.0, 36.0, 35.0, 31.0)
    assert good == (30.0, 36.0, 35.0, 31.0)
    lr_wrong = _plausible(60.0, 45.0, 35.0, 31.0)  # the frame's colour ran on: art found instead
    assert np.isnan(lr_wrong[:2]).all() and lr_wrong[2:] == (35.0, 31.0)
    tb_apart = _plausible(33.0, 33.0, 40.0, 36.0)  # both plausible alone, apart: the further goes
    assert np.isnan(tb_apart[2:]).all() and tb_apart[:2] == (33.0, 33.0)
    alone = _plausible(float("nan"), float("nan"), 10.0, 8.0)  # only one axis, far from a border's total
    assert np.isnan(alone).all() and BORDER_TOTAL == 66.0
    assert Centering(*lr_wrong).ratio().startswith("LR no border")
