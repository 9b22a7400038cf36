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


def test_shipped_identifier_names_held_out_holofoil_cards() -> None:
    """Holofoil printings of sets the identifier never trained on, as photo-like views, searched
    against the shipped index of the whole catalog: the foil over the art window does not hide the
    card (the identifier before foil augmentation named 25% of such cards)."""
    from dataclasses import replace

    from models.identify import FINISH_CLASSES, CardIdentifier, identifier_input
    from pipelines.catalog_sources import load_catalog
    from pipelines.scene_dataset import is_held_out_set, printing_pool
    from pipelines.train.identifier import photo_like
    from tests.conftest import DATA

    full = load_catalog("pokemon", DATA / "pokemon_cards.json.gz")
    held = {"sv4pt5", "swsh1"}
    assert all(is_held_out_set(s) for s in held)
    catalog = Catalog(full.game_id, [s for s in full.sets if s.id in held], [c for c in full.cards if c.set_id in held])
    holo = [s for s in printing_pool([catalog], "heldout") if s.finish == "holofoil"]
    rng = np.random.default_rng(0)
    queries = [holo[i] for i in rng.choice(len(holo), 24, replace=False)]
    identifier = CardIdentifier(
        MODELS / "identifier" / "identifier.onnx", MODELS / "identifier" / "index.npz", device="cpu"
    )
    views = np.stack([identifier_input(photo_like(s, rng)) for s in queries])
    found = identifier.identify(views, k=5)
    top1 = np.mean([f.neighbours[0][0] == s.art_key for f, s in zip(found, queries, strict=True)])
    finish = np.mean([f.finish == "holofoil" for f in found])
    assert len(identifier.ids) > 27_000 and FINISH_CLASSES[1] == "holofoil"
    assert top1 >= 0.7 and finish >= 0.9, (top1, finish)
    plain = [replace(s, finish="normal") for s in queries[:8]]  # the same cards' plain faces stay found
    found = identifier.identify(np.stack([identifier_input(photo_like(s, rng)) for s in plain]), k=5)
    assert np.mean([f.neighbours[0][0] == s.art_key for f, s in zip(found, plain, strict=True)]) >= 0.85


def test_every_scan_model_runs_on_thread_pools_that_do_not_spin() -> None:
    """The scan's stages run side by side on the CPU: a pool spinning for work takes the core from
    the stage beside it (1-card p50 466 -> 318 ms on 2 cores with spinning off)."""
    import onnxruntime as ort

    from models.scan import LocalRunners

    runners = LocalRunners(device="cpu", threads=1)
    sessions = {
        "detector": runners.detector.session,
        "identifier": runners.identifier.session,
        "grader": runners.grader.session,
        "ocr detection": runners.ocr.engine._load_det_model().session.session,
        "ocr recognition": runners.ocr.engine._load_rec_model().session.session,
    }
    if runners.grader.wear is not None:
        sessions["wear"] = runners.grader.wear.session
    if runners.corner_net is not None:
        sessions["corners"] = runners.corner_net.session
    assert len(sessions) == 7  # every shipped model
    for name, session in sessions.items():
        assert isinstance(session, ort.InferenceSession), name
        options = session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0", name
        assert options.intra_op_num_threads == (0 if name == "detector" else 1), name
