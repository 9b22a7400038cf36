"""PP-OCR on rectified cards: the name line and the collector line, strips detected in batches."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models.centering import HEIGHT, WIDTH
from models.matching import parse_collector, parse_name
from models.ocr import CardOCR, strips
from pipelines.catalog_sources import Catalog
from pipelines.render.card_face import face_spec, render_face


@pytest.fixture(scope="module")
def ocr() -> CardOCR:
    return CardOCR(device="cpu")


def _rectified(catalogs: list[Catalog], count: int) -> tuple[list[np.ndarray], list[tuple[str, str]]]:
    cards, truth = [], []
    for catalog in catalogs:
        sets = {s.id: s for s in catalog.sets}
        for card in catalog.cards[: count // len(catalogs)]:
            spec = face_spec(card, sets.get(card.set_id), card.printings[0])
            face = render_face(spec).image
            flat = Image.new("RGB", face.size, (40, 90, 60))  # the table behind the rounded corners
            flat.paste(face, (0, 0), face)
            cards.append(np.asarray(flat.resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR)))
            truth.append((card.name_search, card.collector_key))
    return cards, truth


def test_reads_names_and_collector_numbers(ocr: CardOCR, catalogs: list[Catalog]) -> None:
    cards, truth = _rectified(catalogs, 12)
    texts = ocr.read(cards)
    names = sum(parse_name(t.name) == name for t, (name, _) in zip(texts, truth, strict=True))
    numbers = 0
    for text, (_, key) in zip(texts, truth, strict=True):
        parsed = parse_collector(text.collector)
        numbers += key in (parsed.get("number"), parsed.get("identifier"))
    assert names >= len(cards) - 1, [(t.name, n) for t, (n, _) in zip(texts, truth, strict=True)]
    assert numbers >= len(cards) - 2, [(t.collector, n) for t, (_, n) in zip(texts, truth, strict=True)]


def test_batched_detection_finds_what_one_strip_at_a_time_finds(ocr: CardOCR, catalogs: list[Catalog]) -> None:
    cards, _ = _rectified(catalogs, 4)
    crops = [s for card in cards for s in strips(card)]
    batched = ocr.detect(crops)
    for crop, boxes in zip(crops, batched, strict=True):
        alone = ocr.detect([crop])[0]
        assert len(boxes) == len(alone) > 0
        assert np.allclose(boxes, alone, atol=1.0)
