"""From a photo scene back to a flat card: rectify by the labelled corners, then measure centering."""

from __future__ import annotations

import numpy as np
from PIL import Image

from models.centering import measure_centering
from models.rectify import rectify_card
from pipelines.catalog_sources import Catalog
from pipelines.render.card_face import face_spec, render_face
from pipelines.render.scenes import compose


def test_rectified_scene_card_matches_its_face_and_centering(catalogs: list[Catalog]) -> None:
    catalog = catalogs[0]
    sets = {s.id: s for s in catalog.sets}
    card = next(c for c in catalog.cards if c.id == "sv2-12")
    spec = face_spec(card, sets["sv2"], card.printings[0])
    scene = compose([spec], np.random.default_rng(4), layout="table", negatives=0)
    label = scene.cards[0]
    flat = rectify_card(scene.image, label["corners"])
    assert flat.size == (630, 880)
    condition = label["condition"]
    face = render_face(spec, centering=(condition["centering_lr"], condition["centering_tb"])).image
    reference = Image.new("RGB", face.size, (0, 0, 0))
    reference.paste(face, (0, 0), face)
    a = np.asarray(flat.convert("L"), float)[60:-60, 60:-60].ravel()
    b = np.asarray(reference.convert("L"), float)[60:-60, 60:-60].ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.8  # the same card, flattened back
    measured = measure_centering(flat)
    assert abs(measured.left_share - condition["centering_lr"]) <= 0.03
    assert abs(measured.top_share - condition["centering_tb"]) <= 0.03
    # with the photo around the card, from the card's own edges (as the scan measures it)
    padded = measure_centering(rectify_card(scene.image, label["corners"], margin=24), margin=24)
    assert abs(padded.left_share - condition["centering_lr"]) <= 0.02
    assert abs(padded.top_share - condition["centering_tb"]) <= 0.02
