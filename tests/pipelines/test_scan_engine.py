"""The scan flow in process with the shipped models: detect, rectify, identify + grade + OCR, fuse."""

from __future__ import annotations

import asyncio
import io
import math
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from models.detector import Detection
from models.identify import INPUT_H, INPUT_W, MEAN, STD, CardIdentifier, Identification, identifier_input
from models.matching import EMBEDDING_SURE, CatalogMatcher, art_recognised
from models.rectify import mask_covered
from models.scan import (
    COVERED,
    OVERSIZED,
    LocalRunners,
    ModelPaths,
    ScanEngine,
    covered_shares,
    masked_faces,
    portrait_corners,
    relative_sizes,
    scan_bytes,
)
from pipelines.catalog_sources import Catalog
from pipelines.render.backgrounds import HELD_OUT_STYLES
from pipelines.render.card_face import FaceSpec, face_spec
from pipelines.render.scenes import CLOSEUP, Scene, compose


@pytest.fixture(scope="module")
def engine(catalogs: list[Catalog]) -> ScanEngine:
    return ScanEngine(LocalRunners(device="cpu"), CatalogMatcher(catalogs))


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_corner_order_is_turned_to_portrait() -> None:
    portrait = np.array([[0, 0], [63, 0], [63, 88], [0, 88]], float)
    landscape_read = np.roll(portrait, 1, axis=0)  # TL labelled on the bottom-left corner
    assert np.allclose(portrait_corners(portrait), portrait)
    fixed = portrait_corners(landscape_read)
    top = np.linalg.norm(fixed[1] - fixed[0])
    assert top == pytest.approx(63)


WANTED = ["sv2-12", "base1-4", "sv4-5", "WTR001"]


def _wanted_specs(catalogs: list[Catalog]) -> list[FaceSpec]:
    """The faces of the four WANTED cards (three Pokémon eras, one Flesh and Blood)."""
    specs = []
    for catalog in catalogs:
        sets = {s.id: s for s in catalog.sets}
        specs += [face_spec(c, sets[c.set_id], c.printings[0]) for c in catalog.cards if c.id in WANTED]
    return specs


def _table_scene(catalogs: list[Catalog]) -> Scene:
    """The four WANTED cards on a held-out table surface."""
    return compose(
        _wanted_specs(catalogs), np.random.default_rng(11), layout="table", styles=HELD_OUT_STYLES, negatives=0
    )


def _table(catalogs: list[Catalog]) -> Image.Image:
    return _table_scene(catalogs).image


def test_scan_of_a_table_photo(engine: ScanEngine, catalogs: list[Catalog]) -> None:
    scene = _table(catalogs)
    payload = asyncio.run(scan_bytes(engine, _jpeg(scene)))
    cards = payload.result["cards"]
    assert len(cards) >= 3 and len(payload.crops) == len(cards)
    found = [c["candidates"][0]["card_id"] for c in cards if c["candidates"]]
    assert len(set(found) & set(WANTED)) >= 3, [(c["candidates"][:1], c["ocr"]) for c in cards]
    good = [c for c in cards if c["tier"] == "GOOD"]
    assert all(c["candidates"][0]["card_id"] in WANTED for c in good)
    for card in cards:
        assert set(card["grade"]) >= {"centering", "corners", "edges", "surface", "overall", "condition"}
        assert card["finish"] in ("normal", "holofoil", "reverse_holofoil", "rainbow_foil", "cold_foil", "gold_foil")
    assert Image.open(io.BytesIO(payload.overlay)).size == (1280, 960)
    assert set(payload.result["timings_ms"]) >= {"detect", "rectify", "identify", "grade", "ocr", "fuse", "total"}


class Wrapped:
    """The real models (``LocalRunners``), each of whose calls a subclass may change."""

    def __init__(self, runners: LocalRunners) -> None:
        self.runners = runners

    def __getattr__(self, name: str) -> object:
        return getattr(self.runners, name)


class HalfTurned(Wrapped):
    """The real models, with a detector that calls each card's bottom-right corner its top-left;
    ``art_known=False``: as for a real photo, no card's art is in the index (no neighbours)."""

    def __init__(self, runners: LocalRunners, art_known: bool) -> None:
        super().__init__(runners)
        self.art_known = art_known

    async def detect(self, image: np.ndarray) -> list[Detection]:
        return [replace(d, corners=np.roll(d.corners, 2, axis=0)) for d in await self.runners.detect(image)]

    async def identify(self, batch: np.ndarray) -> list[Identification]:
        found = await self.runners.identify(batch)
        return found if self.art_known else [replace(i, neighbours=[]) for i in found]

    async def grade(self, batch: np.ndarray) -> np.ndarray:
        graded = await self.runners.grade(batch)
        graded.setflags(write=False)  # as a Serve deployment's answer arrives: read-only
        return graded


@pytest.mark.parametrize("art_known", [True, False])
def test_cards_read_upside_down_are_turned_round(engine: ScanEngine, catalogs: list[Catalog], art_known: bool) -> None:
    scene = _table(catalogs)
    assert isinstance(engine.runners, LocalRunners)
    turned = ScanEngine(HalfTurned(engine.runners, art_known), engine.matcher)  # type: ignore[arg-type]
    upright = asyncio.run(scan_bytes(engine, _jpeg(scene))).result["cards"]
    flipped = asyncio.run(scan_bytes(turned, _jpeg(scene))).result["cards"]
    found = {c["candidates"][0]["card_id"]: c for c in flipped if c["candidates"]}
    assert len(set(found) & set(WANTED)) >= 3, [(c["candidates"][:1], c["ocr"]) for c in flipped]
    for card in upright:  # the same card comes back with its corners in its reading order
        twin = found.get(card["candidates"][0]["card_id"]) if card["candidates"] else None
        if twin is not None and card["candidates"][0]["card_id"] in WANTED:
            # the corner network started from another corner order lands within a few pixels (1% of
            # the diagonal); a corner order half a turn off would be a card's length away
            assert np.allclose(card["corners"], twin["corners"], atol=8.0)


def test_a_top_line_read_upside_down_is_no_collector_number(engine: ScanEngine) -> None:
    """A card turned the wrong way up shows its HP line in the bottom strip: ``HP140`` has the shape
    of a Flesh and Blood identifier but names no card, so it must not vouch for the wrong turn
    (held-out seed 1001 turned a Pokémon card round by it and named it wrongly)."""
    from models.ocr import CardText

    def legible(collector: str) -> float:
        return engine.legible(CardText(name="", name_score=0.0, collector=collector, collector_score=0.9))

    assert legible("HP140") == 0.0 and legible("PT10") == 0.0
    assert legible("MST131") == 0.5 and legible("063/193") == 0.5
    # the HP read where the name should be: the top line is on top, though the name did not read
    assert engine.legible(CardText(name="HP140", name_score=0.9, collector="", collector_score=0.0)) == 0.5
    assert engine.legible(CardText(name="120 HP", name_score=0.9, collector="", collector_score=0.0)) == 0.5


def test_a_photo_of_no_cards_yields_none(engine: ScanEngine) -> None:
    rng = np.random.default_rng(4)
    blank = compose([], rng, layout="table", styles=HELD_OUT_STYLES, negatives=0)
    assert asyncio.run(scan_bytes(engine, _jpeg(blank.image))).result["cards"] == []


def test_ann_index_agrees_with_exact_search() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 64)).astype(np.float32)
    ids = [f"card-{i}" for i in range(3000)]
    exact = CardIdentifier(ModelPaths().identifier, device="cpu")
    exact.set_index(ids, vectors)
    ann = CardIdentifier(ModelPaths().identifier, device="cpu", exact_limit=1000)
    ann.set_index(ids, vectors)
    assert ann._ann is not None and exact._ann is None
    queries = vectors[:200] + rng.normal(scale=0.3, size=(200, 64)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    a, e = ann.search(queries, k=5), exact.search(queries, k=5)
    agree = np.mean([x[0][0] == y[0][0] for x, y in zip(a, e, strict=True)])
    assert agree >= 0.98 and all(x[0][0] == f"card-{i}" for i, x in enumerate(e))


def test_one_card_seen_twice_is_kept_once() -> None:
    from models.scan import ScannedCard, drop_duplicates

    def card(box: list[float], score: float, name: str, tier: str = "FAIR") -> ScannedCard:
        return ScannedCard(
            corners=[],
            box=box,
            detection_score=score,
            candidates=[{"name": name, "confidence": 0.7}],
            tier=tier,
            printing_id=None,
            finish="normal",
            finish_confidence=1.0,
            grade={},
            ocr={},
            embedding=[],
            crop=Image.new("RGB", (2, 2)),
        )

    same = [card([0, 0, 100, 140], 0.9, "a"), card([10, 5, 110, 150], 0.6, "a", tier="GOOD")]
    assert [c.detection_score for c in drop_duplicates(same)] == [0.6]  # the surer reading wins
    fan = [card([0, 0, 100, 140], 0.9, "a"), card([10, 5, 110, 150], 0.8, "b")]
    assert len(drop_duplicates(fan)) == 2


def test_an_unsure_detection_stays_when_the_card_vouches_for_it(engine: ScanEngine, catalogs: list[Catalog]) -> None:
    """Below the detector's sure score a detection is a card only on the card's own evidence: a name
    or number read, art recognised, or a fused identification sure of one card."""
    from models.matching import Candidate, Match
    from models.scan import CARD_SURE

    card = engine.matcher.card("sv2-12")
    assert card is not None
    unsure = Detection(box=(0, 0, 63, 88), score=0.6, corners=np.zeros((4, 2)), corner_visibility=np.ones(4))
    nothing = {"embedding": 0.05, "name": 0.0, "number": 0.0}

    def match(confidence: float, **evidence: float) -> Match:
        return Match([Candidate(card, confidence, nothing | evidence)], "POOR")

    assert not engine.is_card(unsure, match(CARD_SURE - 0.2))
    assert not engine.is_card(unsure, Match([], "POOR"))
    assert engine.is_card(unsure, match(CARD_SURE + 0.01))
    assert engine.is_card(unsure, match(0.1, name=0.9))
    assert engine.is_card(unsure, match(0.1, embedding=EMBEDDING_SURE))
    assert engine.is_card(replace(unsure, score=engine.sure_score), match(0.0))
    # a name read alone does not vouch for an outline far larger than the photo's sure cards
    assert engine.is_card(unsure, match(0.1, name=0.9), size=OVERSIZED)
    assert not engine.is_card(unsure, match(0.1, name=0.9), size=OVERSIZED * 1.1)
    assert engine.is_card(unsure, match(0.1, name=0.9, number=1.0), size=OVERSIZED * 1.1)
    assert engine.is_card(replace(unsure, score=engine.sure_score), match(0.0), size=OVERSIZED * 3)


def test_sizes_are_against_the_photos_sure_cards() -> None:
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float32)
    quads = [square, square * 2, square * 3]
    assert relative_sizes(quads, [True, True, False]) == pytest.approx([0.4, 1.6, 3.6])
    assert relative_sizes(quads, [False, False, False]) == [None, None, None]


class NoCornerNetwork(Wrapped):
    """The real models without the corner network: the engine fits corners to the card's edges."""

    async def corners(self, batch: np.ndarray) -> None:
        return None


def _outline_error(found: list[list[float]], truths: list[np.ndarray]) -> float:
    """Mean corner distance of a scanned card to the nearest true card, whatever corner comes
    first, as a share of the card's diagonal."""
    quad = np.array(found, float)
    errors = []
    for truth in truths:
        best = min(float(np.linalg.norm(np.roll(truth, k, 0) - quad, axis=1).mean()) for k in range(4))
        errors.append(best / float(np.linalg.norm(truth[2] - truth[0])))
    return min(errors)


def test_corner_network_puts_the_scans_corners_on_the_cards(engine: ScanEngine, catalogs: list[Catalog]) -> None:
    """The shipped corner network, run by the engine through its runners (two passes, all cards in
    one batch), lands the corners closer to the true ones than fitting them to the edges."""
    scene = _table_scene(catalogs)
    truths = [np.array(c["corners"], float) for c in scene.cards]
    assert isinstance(engine.runners, LocalRunners) and engine.runners.corner_net is not None
    edges = ScanEngine(NoCornerNetwork(engine.runners), engine.matcher)  # type: ignore[arg-type]
    with_net = asyncio.run(scan_bytes(engine, _jpeg(scene.image))).result["cards"]
    with_edges = asyncio.run(scan_bytes(edges, _jpeg(scene.image))).result["cards"]
    assert len(with_net) >= 3 and len(with_edges) >= 3
    net_error = float(np.mean([_outline_error(c["corners"], truths) for c in with_net]))
    edge_error = float(np.mean([_outline_error(c["corners"], truths) for c in with_edges]))
    assert net_error < edge_error and net_error < 0.03, (net_error, edge_error)


class RecordingDetector(Wrapped):
    """The real models, noting the size of each photo the detector is given."""

    def __init__(self, runners: LocalRunners) -> None:
        super().__init__(runners)
        self.sizes: list[tuple[int, ...]] = []

    async def detect(self, image: np.ndarray) -> object:
        self.sizes.append(image.shape)
        return await self.runners.detect(image)


def test_a_phone_sized_photo_is_scanned_in_its_own_pixels(engine: ScanEngine, catalogs: list[Catalog]) -> None:
    """A 12 MP photo reaches the detector box-averaged down by 4 (``models.detector.reduced``), the
    cards are cut from the photo itself, and the corners come back in the photo's own pixels."""
    specs = _wanted_specs(catalogs)[:2]
    scene = compose(
        specs, np.random.default_rng(5), size=(4032, 3024), layout="table", styles=HELD_OUT_STYLES, negatives=0
    )
    assert isinstance(engine.runners, LocalRunners)
    recording = RecordingDetector(engine.runners)
    phone = ScanEngine(recording, engine.matcher)  # type: ignore[arg-type]
    result = asyncio.run(scan_bytes(phone, _jpeg(scene.image))).result
    assert recording.sizes == [(756, 1008, 3)]
    assert (result["width"], result["height"]) == (4032, 3024)
    assert sorted(c["printing_id"] for c in result["cards"]) == sorted(s.printing_id for s in specs)
    truths = [np.array(c["corners"], float) for c in scene.cards]
    assert all(_outline_error(c["corners"], truths) < 0.02 for c in result["cards"])


@pytest.mark.parametrize("seed", [11, 19])
def test_a_card_photographed_close_is_found_zoomed_out(engine: ScanEngine, catalogs: list[Catalog], seed: int) -> None:
    """One card filling the photo: the detector (trained on smaller cards) finds it in unsure
    pieces (seed 11) or not at all (seed 19); seen again zoomed out it is found whole, and the scan
    identifies it."""
    spec = _wanted_specs(catalogs)[seed % 4]
    scene = compose([spec], np.random.default_rng(seed), layout=CLOSEUP, styles=HELD_OUT_STYLES, negatives=0)
    rgb = np.asarray(scene.image)
    near = [d for d in asyncio.run(engine.runners.detect(rgb)) if d.score >= engine.min_score]
    assert all(d.score < engine.sure_score for d in near)  # as the detector alone sees it: no sure card
    cards = asyncio.run(scan_bytes(engine, _jpeg(scene.image))).result["cards"]
    assert [c["printing_id"] for c in cards] == [spec.printing_id]
    assert _outline_error(cards[0]["corners"], [np.array(scene.cards[0]["corners"], float)]) < 0.03


def test_covered_shares_measure_how_much_of_a_card_lies_under_another() -> None:
    card = np.array([[0, 0], [63, 0], [63, 88], [0, 88]], float)
    apart, half_over, inside = card + np.array([100, 0]), card + np.array([31.5, 0]), card * 0.5 + 10
    assert covered_shares([card, apart]) == [0.0, 0.0]
    assert covered_shares([card, half_over]) == pytest.approx([0.5, 0.5])
    shares = covered_shares([card, inside])  # a small card lying on a large one
    assert shares[1] == pytest.approx(1.0) and shares[0] == pytest.approx(0.25)
    # knowing which lies on which, only the cards over a card cover it
    assert covered_shares([card, inside], over=[[1], []]) == pytest.approx([0.25, 0.0])
    assert covered_shares([card, half_over], over=[[1], [0]]) == pytest.approx([0.5, 0.5])  # order unknown


def test_overlapping_cards_are_good_only_when_the_art_agrees(engine: ScanEngine, catalogs: list[Catalog]) -> None:
    """In a fan the strips of a card partly under another can show that card's text: such a card is
    GOOD only if the art names it too (among the whole catalog, or among the printings of its name
    while among the catalog's nearest faces)."""
    scene = compose(
        _wanted_specs(catalogs), np.random.default_rng(5), layout="fan", styles=HELD_OUT_STYLES, negatives=0
    )
    cards = asyncio.run(scan_bytes(engine, _jpeg(scene.image))).result["cards"]
    assert len(cards) >= 2
    shares = covered_shares([np.array(c["corners"]) for c in cards])
    assert max(shares) > COVERED  # the fan overlaps
    for card, share in zip(cards, shares, strict=True):
        if card["tier"] == "GOOD" and share > COVERED:
            evidence = card["candidates"][0]["evidence"]
            assert art_recognised(evidence["embedding"], evidence["art_among_name"])


def test_centering_is_not_read_off_a_neighbour_in_a_fan(engine: ScanEngine, catalogs: list[Catalog]) -> None:
    """A card whose side lies under the next card of a fan reports that axis hidden instead of a
    ratio measured to the neighbour's edge; the fan's top card, under nothing, is measured (the
    photo says which card lies on which); a card on its own reports both axes."""
    from models.rectify import stacking

    fan = compose(_wanted_specs(catalogs), np.random.default_rng(5), layout="fan", styles=HELD_OUT_STYLES, negatives=0)
    photo = _jpeg(fan.image)
    cards = asyncio.run(scan_bytes(engine, photo)).result["cards"]
    quads = [np.array(c["corners"]) for c in cards]
    shares = covered_shares(quads)
    over, unsure = stacking(np.asarray(Image.open(io.BytesIO(photo)).convert("RGB")), quads)
    under = [c for i, c in enumerate(cards) if shares[i] > 0.2 and (over[i] or unsure[i])]
    assert under and all("hidden" in c["grade"]["centering_ratio"] for c in under)
    on_top = [c for i, c in enumerate(cards) if shares[i] > 0.2 and not (over[i] or unsure[i])]
    assert on_top and all("hidden" not in c["grade"]["centering_ratio"] for c in on_top)
    single = compose(_wanted_specs(catalogs)[:1], np.random.default_rng(2), layout="table", negatives=0)
    alone = asyncio.run(scan_bytes(engine, _jpeg(single.image))).result["cards"]
    assert len(alone) == 1 and "hidden" not in alone[0]["grade"]["centering_ratio"]
    assert alone[0]["grade"]["centering_lr"] is not None and alone[0]["grade"]["centering_tb"] is not None


def test_corners_that_slid_off_the_card_get_a_second_look_from_the_box(
    engine: ScanEngine, catalogs: list[Catalog]
) -> None:
    """Keypoints that slid onto a corner of the card (their outline a fraction of the box) are
    found again from the detection box; without the box the corner network cannot recover them."""
    from models.corners import BOX_AGREEMENT, box_agreement, box_quad

    scene = _table_scene(catalogs)
    rgb = np.asarray(scene.image.convert("RGB"))
    detections = [d for d in asyncio.run(engine.runners.detect(rgb)) if d.score >= engine.min_score]
    truths = [np.array(c["corners"], float) for c in scene.cards]
    assert detections
    slid = [d.corners[0] + 0.35 * (d.corners - d.corners[0]) for d in detections]
    boxes = [d.box for d in detections]
    assert all(box_agreement(q, b) < BOX_AGREEMENT for q, b in zip(slid, boxes, strict=True))
    assert box_agreement(box_quad(boxes[0]), boxes[0]) == pytest.approx(1.0)
    second_look = asyncio.run(engine.refine_corners(rgb, slid, boxes))
    without = asyncio.run(engine.refine_corners(rgb, slid))
    with_box = max(_outline_error(q, truths) for q in second_look)
    from_slid = max(_outline_error(q, truths) for q in without)
    assert with_box < 0.03 < from_slid, (with_box, from_slid)


def test_cards_not_good_get_the_face_check(engine: ScanEngine, catalogs: list[Catalog]) -> None:
    """In a fan, the cards the fusion is not sure of are compared with the faces of their likely cards
    where the photo shows them; where the true card is among those compared, its face is the likest.
    GOOD cards are not compared (the check costs a drawn face per candidate)."""
    from models.scan import decode_photo

    scene = compose(
        _wanted_specs(catalogs), np.random.default_rng(5), layout="fan", styles=HELD_OUT_STYLES, negatives=0
    )
    output = asyncio.run(engine.scan(decode_photo(_jpeg(scene.image))))
    checked = [c for c in output.cards if c.faces is not None]
    assert checked, [c.tier for c in output.cards]  # a fan has cards the fusion is not sure of
    assert all(c.tier != "GOOD" for c in checked)
    assert all(c.faces is not None for c in output.cards if c.tier != "GOOD" and c.candidates)
    from pipelines.evaluate_scan import card_of, pair_with_labels

    found = [{"box": c.box, "detection_score": c.detection_score, "candidates": c.candidates} for c in output.cards]
    pairs, _, _ = pair_with_labels(found, scene.cards)
    compared = [
        (output.cards[i].faces, card_of(label))
        for i, label in pairs
        if output.cards[i].faces and card_of(label) in output.cards[i].faces
    ]
    likest = [max(faces, key=faces.__getitem__) == truth for faces, truth in compared]
    assert len(likest) >= 2 and sum(likest) >= 0.75 * len(likest), likest


def test_where_the_index_does_not_hold_the_photographed_art_no_face_is_compared(
    engine: ScanEngine, catalogs: list[Catalog]
) -> None:
    """The face check compares the photo with the index's art: on photos of real cards (the shipped
    index holds the renderer's faces; ``Settings.art_vouches`` off) it would compare unlike with unlike,
    and it is not run; a card is GOOD only by its name and collector number read."""
    from models.scan import decode_photo

    scene = compose(
        _wanted_specs(catalogs), np.random.default_rng(5), layout="fan", styles=HELD_OUT_STYLES, negatives=0
    )
    photo = decode_photo(_jpeg(scene.image))
    textual = ScanEngine(engine.runners, CatalogMatcher(catalogs, art_vouches=False), faces=engine.faces)
    output = asyncio.run(textual.scan(photo))
    assert output.cards and all(c.faces is None for c in output.cards)
    assert "faces" not in output.timings_ms
    good = [c for c in output.cards if c.tier == "GOOD"]
    assert all(c.candidates[0]["evidence"]["number"] > 0 and c.candidates[0]["evidence"]["name"] > 0 for c in good)
    assert any(c.faces is not None for c in asyncio.run(engine.scan(photo)).cards)  # the same photo, art vouching


@pytest.fixture(scope="module")
def whole_catalog_engine() -> ScanEngine:
    """The engine as the product runs it: both whole catalogs, the fitted fusion and the reference
    faces (with a few sets the fusion is sure of other things, a wrapper's likeness to one of few cards)."""
    from serve_app.services.scanner import shipped_engine
    from tests.conftest import DATA

    return shipped_engine(ScanEngine, DATA)


def test_a_name_read_unsure_does_not_say_which_way_up(whole_catalog_engine: ScanEngine) -> None:
    """Text read upside down can land near some catalog name (``MENIEW``, 0.71 from one) while the
    recognizer is unsure of it (0.37): for the turn it counts as nothing (held-out seed 1001, photo 189:
    a fully visible Golett turned round by it and misnamed), a name read sure still counts."""
    from models.ocr import CardText
    from models.scan import TURN_CONFIDENT

    engine = whole_catalog_engine
    garbage = CardText(name="MENIEW", name_score=0.374, collector="", collector_score=0.0)
    assert engine.legible(garbage) >= 0.7  # close enough to some name to count, unless its confidence does
    assert engine.legible(garbage, confident=TURN_CONFIDENT) == 0.0
    golett = CardText(name="Golett", name_score=0.878, collector="", collector_score=0.0)
    assert engine.legible(golett, confident=TURN_CONFIDENT) == engine.legible(golett) == 1.0


def test_a_booster_wrapper_larger_than_the_photos_card_is_no_card(
    whole_catalog_engine: ScanEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held-out seed 1001, photo 186: a booster wrapper, cut by the photo's edge, beside one card in a
    binder page. The detector is unsure of the wrapper and its `BOOSTER` reads like the catalog card
    `G Booster`: a name read alone, on an outline ~4.6 times the photo's sure card, is no card."""
    from pathlib import Path

    import models.scan
    from models.scan import decode_photo

    engine = whole_catalog_engine
    photo = decode_photo((Path(__file__).parent / "data" / "wrapper-beside-card.jpg").read_bytes())
    card_box = np.array([525.1, 32.5, 742.3, 317.5])  # the label's box

    def kept() -> list[tuple[str, float]]:
        cards = asyncio.run(engine.scan(photo)).cards
        assert any(np.abs(np.asarray(c.box) - card_box).max() < 25 for c in cards)  # the card is found
        return [(c.candidates[0]["name"] if c.candidates else "", c.detection_score) for c in cards]

    assert len(kept()) == 1
    monkeypatch.setattr(models.scan, "OVERSIZED", math.inf)  # without the size rule the wrapper is kept
    wrapper = [score for name, score in kept() if name == "G Booster"]
    assert wrapper and wrapper[0] < engine.sure_score, wrapper


def test_a_card_lying_face_down_is_no_card(engine: ScanEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A card back is reported face down, not identified as some card: a Flesh and Blood back the
    detector is sure of, beside a coin (negatives only, seed 46)."""
    import models.scan

    photo = compose([], np.random.default_rng(46), styles=HELD_OUT_STYLES, negatives=2).image
    payload = asyncio.run(scan_bytes(engine, _jpeg(photo)))
    assert payload.result["cards"] == [] and payload.crops == []
    (back,) = payload.result["face_down"]
    assert back["game"] == "fab" and back["likeness"] >= models.scan.BACK_LIKENESS
    monkeypatch.setattr(models.scan, "BACK_LIKENESS", math.inf)  # without the back check: a card, named wrong
    output = asyncio.run(engine.scan(Image.open(io.BytesIO(_jpeg(photo)))))
    assert len(output.cards) == 1 and not output.face_down
    assert np.abs(np.asarray(output.cards[0].box) - np.asarray(back["box"])).max() < 1.0


def test_a_card_kept_by_its_art_alone_needs_a_look(whole_catalog_engine: ScanEngine) -> None:
    """Photos of negatives only (wrappers, boxes): an unsure detection on which nothing of a card's
    name or number was read, kept because the fusion was sure of some card's art, is POOR, never FAIR."""
    from models.scan import NAME_FLOOR

    engine = whole_catalog_engine
    art_only = []
    for seed in (15, 33, 73):
        photo = compose([], np.random.default_rng(seed), styles=HELD_OUT_STYLES, negatives=2).image
        buffer = io.BytesIO()
        photo.convert("RGB").save(buffer, "JPEG", quality=90)  # as benchmarks/no_cards.py
        output = asyncio.run(engine.scan(Image.open(buffer)))
        art_only += [c for c in output.cards if c.detection_score < engine.sure_score]
    assert art_only  # the fusion keeps some wrapper or box by its likeness to a card's art
    for card in art_only:
        evidence = card.candidates[0]["evidence"]
        assert card.tier == "POOR" or evidence["name"] >= NAME_FLOOR or evidence["number"] > 0, (card.tier, card.ocr)


def test_a_booster_pack_photographed_alone_is_no_card(
    whole_catalog_engine: ScanEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A booster pack printed as real ones are, photographed alone (`benchmarks/no_cards.py --close-up
    --printed-packs`, seed 29): the detector is sure of a card there, and nothing of a card's name or
    number reads on it. Large and in view, it is reported as read as no card, not as a card."""
    import models.scan

    engine = whole_catalog_engine
    from pipelines.render.packs import pack_titles

    photo = compose(
        [],
        np.random.default_rng(29),
        layout=CLOSEUP,
        styles=HELD_OUT_STYLES,
        negatives=1,
        pack_titles=pack_titles(engine.matcher.catalogs),
        negative_kinds=("wrapper",),
    ).image
    buffer = io.BytesIO()
    photo.convert("RGB").save(buffer, "JPEG", quality=90)  # as benchmarks/no_cards.py
    payload = asyncio.run(scan_bytes(engine, buffer.getvalue()))
    assert payload.result["cards"] == [] and payload.crops == []
    (pack,) = payload.result["unread"]
    assert pack["detection_score"] >= engine.sure_score
    monkeypatch.setattr(models.scan, "READABLE_SIDE", math.inf)  # without the rule: a card, named wrong
    output = asyncio.run(engine.scan(Image.open(io.BytesIO(buffer.getvalue()))))
    assert len(output.cards) == 1 and not output.unread


@pytest.mark.parametrize("codec", ["JPEG", "HEIC"])
def test_a_phone_photo_turned_by_its_exif_is_decoded_upright(codec: str) -> None:
    """Phones store a portrait photo landscape with EXIF orientation 6 (turn a quarter clockwise):
    JPEG and HEIC come out upright alike."""
    from pillow_heif import from_pillow

    from models.scan import decode_photo

    stored = Image.new("RGB", (64, 48), (200, 30, 30))
    stored.paste((0, 0, 255), (0, 0, 10, 10))  # a blue mark at the stored image's top left
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    if codec == "HEIC":
        from_pillow(stored).save(buffer, quality=90, exif=exif.tobytes())
    else:
        stored.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    upright = decode_photo(buffer.getvalue())
    assert upright.size == (48, 64)
    assert upright.getpixel((44, 3))[2] > 200 and upright.getpixel((3, 3))[0] > 150  # the mark now top right


class FixedDetections(Wrapped):
    """The real models, with the detector's answer given."""

    def __init__(self, runners: LocalRunners, detections: list[Detection]) -> None:
        super().__init__(runners)
        self.detections = detections

    async def detect(self, image: np.ndarray) -> list[Detection]:
        return self.detections


def test_a_card_under_a_sure_one_that_shows_nothing_is_reported_hidden(
    engine: ScanEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fan's bottom card: the detector unsure of it (0.65), nothing of a card's name, number or art
    showing on it, a card the detector is sure of lying over it (its edge runs across the bottom card's
    face). It is no card of the scan, but it is not lost: reported hidden, drawn on the overlay."""
    import models.scan
    from models.scan import HIDDEN_SCORE, hidden_under

    table = Image.new("RGB", (1100, 1100), (90, 70, 50))
    table.paste((200, 140, 160), (40, 40, 670, 920))  # the bottom card: plain pink
    table.paste((220, 190, 90), (360, 180, 990, 1060))  # the top card's border over it
    table.paste((150, 200, 230), (400, 220, 950, 1020))  # and its face

    def detection(x: int, y: int, score: float) -> Detection:
        corners = np.array([[x, y], [x + 630, y], [x + 630, y + 880], [x, y + 880]], float)
        return Detection((x, y, x + 630, y + 880), score, corners, np.ones(4))

    assert isinstance(engine.runners, LocalRunners)
    runners = FixedDetections(engine.runners, [detection(360, 180, 0.9), detection(40, 40, HIDDEN_SCORE + 0.05)])
    fixed = ScanEngine(runners, engine.matcher, refine=False)  # type: ignore[arg-type]
    payload = asyncio.run(scan_bytes(fixed, _jpeg(table)))
    (hidden,) = payload.result["hidden"]
    assert hidden["box"] == [40.0, 40.0, 670.0, 920.0]
    assert hidden["detection_score"] == pytest.approx(HIDDEN_SCORE + 0.05)
    assert all(c["box"] != hidden["box"] for c in payload.result["cards"])
    # the rule: under a sure card, surely enough detected, of a card's size
    assert hidden_under(HIDDEN_SCORE, 1.0, True)
    assert not hidden_under(HIDDEN_SCORE, 1.0, False) and not hidden_under(HIDDEN_SCORE - 0.01, 1.0, True)
    assert not hidden_under(HIDDEN_SCORE, 2.0, True) and not hidden_under(HIDDEN_SCORE, None, True)
    # without it the bottom card is simply dropped
    monkeypatch.setattr(models.scan, "HIDDEN_SCORE", 1.0)
    again = asyncio.run(scan_bytes(fixed, _jpeg(table)))
    assert again.result["hidden"] == [] and len(again.result["cards"]) == len(payload.result["cards"])


def test_a_partly_hidden_cards_neighbours_are_ranked_by_faces_painted_as_it_is(
    engine: ScanEngine, catalogs: list[Catalog]
) -> None:
    """A card half under another one is embedded from what shows, the rest painted out; its neighbours,
    found among whole faces, are ranked again by their faces painted out alike: its own face, found
    second, comes first, and each place keeps the score it had (the fusion was fitted on those)."""
    own, other = (spec.card_id for spec in _wanted_specs(catalogs)[:2])
    face = engine.faces.face(own, "normal")
    assert face is not None
    seen = np.zeros((88, 63), bool)
    seen[:, :25] = True  # the left two fifths in view, as in a fan
    shown = mask_covered(Image.fromarray(face).resize((630, 880), Image.Resampling.BILINEAR), seen)
    (identity,) = asyncio.run(engine.runners.identify(identifier_input(shown)[None]))
    found = replace(identity, neighbours=[(other, 0.9), (own, 0.8)])
    assert asyncio.run(engine.masked_ranking([found], [seen], [0])) == [[(own, 0.9), (other, 0.8)]]


def test_faces_are_painted_where_the_card_is_covered_in_the_mean_colour_of_the_rest() -> None:
    faces = np.zeros((2, 88, 63, 3), np.uint8)
    faces[0, :, :30] = (200, 10, 10)
    faces[0, :, 30:] = (10, 200, 10)  # in view: the left half, all red
    faces[1] = (50, 60, 70)
    seen = np.zeros((88, 63), bool)
    seen[:, :30] = True
    painted = masked_faces(faces, seen)
    assert painted.shape == (2, 3, INPUT_H, INPUT_W)
    pixels = np.moveaxis(painted, 1, -1) * np.asarray(STD) + np.asarray(MEAN)  # back to 0..1
    assert np.allclose(pixels[0, :, -1], np.array([200, 10, 10]) / 255, atol=0.01)  # the green half painted red
    assert np.allclose(pixels[1], np.array([50, 60, 70]) / 255, atol=0.01)
