"""The shipped detector finds cards in a photo it has never seen (held-out sets and surfaces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.detector import CardDetector, _iou
from pipelines.catalog_sources import Catalog
from pipelines.render.backgrounds import HELD_OUT_STYLES
from pipelines.render.card_face import face_spec
from pipelines.render.scenes import compose

MODELS = Path(__file__).resolve().parents[1] / "models"


def test_shipped_detector_finds_held_out_cards(catalogs: list[Catalog]) -> None:
    detector = CardDetector(MODELS / "detector" / "detector.onnx", imgsz=416)
    catalog = catalogs[0]
    sets = {s.id: s for s in catalog.sets}
    found = total = 0
    for seed, card_ids in enumerate((["sv2-12", "base1-4"], ["sv4-5", "sv3pt5-25", "swsh45-10"], ["sv2-100"])):
        specs = [face_spec(c, sets[c.set_id], c.printings[0]) for c in catalog.cards if c.id in card_ids]
        scene = compose(specs, np.random.default_rng(100 + seed), layout="table", styles=HELD_OUT_STYLES, negatives=0)
        detections = detector([scene.image])[0]
        boxes = np.array([d.box for d in detections]).reshape(-1, 4)
        for card in scene.cards:
            total += 1
            found += bool(len(boxes)) and float(_iou(np.array(card["box"]), boxes).max()) >= 0.5
    assert total == 6 and found >= 5, (found, total)
