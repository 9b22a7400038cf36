"""The face check: the part of a card in view compared with the faces of its likely cards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.faces import GRID, RenderedFaces, likeness, likenesses, reduced
from models.matching import FEATURES, CatalogMatcher, Fusion, Match
from pipelines.catalog_sources import Catalog
from pipelines.render.card_face import face_spec


def _photographed(faces: RenderedFaces, card_id: str, seed: int) -> Image.Image:
    """The card's face as the scan rectifies it from a photo (``pipelines.train.identifier.photo_like``:
    worn, off-centre, corners a little off, light and colour changed, maybe glare, blurred)."""
    from pipelines.train.identifier import photo_like

    card, card_set = faces.records[card_id]
    return photo_like(face_spec(card, card_set, card.printings[0]), np.random.default_rng(seed)).resize((630, 880))


def test_a_half_covered_card_looks_likest_its_own_face_among_its_names_printings(catalogs: list[Catalog]) -> None:
    faces = RenderedFaces(catalogs)
    plain = CatalogMatcher(catalogs)
    names = {}
    for card in plain.cards:
        names.setdefault(card.name, []).append(card.card_id)
    for name in ("Charmander", "Pikachu"):
        printings = names[name]
        assert len(printings) >= 3, name
        for seed, truth in enumerate(printings[:3]):
            photo = _photographed(faces, truth, seed)
            seen = np.zeros((GRID[1], GRID[0]), bool)
            seen[: GRID[1] // 2] = True  # the lower half, collector line and all, under another card
            found = likenesses(faces, photo, seen, "normal", printings)
            assert set(found) == set(printings)
            ranked = sorted(found, key=lambda k: -found[k])
            assert ranked[0] == truth, (name, truth, found)
            assert found[ranked[0]] - found[ranked[1]] > 0.05, found


def test_likeness_ignores_light_and_where_the_frame_sits_but_not_what_is_hidden() -> None:
    rng = np.random.default_rng(0)
    face = (rng.random((GRID[1] // 4, GRID[0] // 4, 3)) * 255).astype(np.uint8)
    face = np.asarray(Image.fromarray(face).resize(GRID, Image.Resampling.BILINEAR))  # smooth, like art
    other = np.asarray(Image.fromarray(face).transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    seen = np.ones((GRID[1], GRID[0]), bool)
    card = np.roll(face.astype(np.float32) * 0.6 + 30, (1, -2), axis=(0, 1)).clip(0, 255).astype(np.uint8)
    scores = likeness(card, np.stack([face, other]), seen)
    assert scores[0] > 0.95 > scores[1]
    # only the cells in view count: a card that differs from the face only where it is hidden matches
    hidden = card.copy()
    hidden[50:] = 255 - hidden[50:]
    seen_top = seen.copy()
    seen_top[48:] = False
    assert likeness(hidden, face[None], seen_top)[0] > 0.95 > likeness(hidden, face[None], seen)[0]
    # too little in view says nothing
    assert likeness(card, face[None], np.zeros_like(seen))[0] == 0.0


def test_the_face_check_joins_the_candidates_and_leads_the_fusion(catalogs: list[Catalog]) -> None:
    plain = CatalogMatcher(catalogs)
    charmanders = [c.card_id for c in plain.cards if c.name == "Charmander"]
    truth = charmanders[2]
    faces = {card_id: 0.5 for card_id in charmanders} | {truth: 0.8}
    tuned = CatalogMatcher(catalogs, Fusion(weights=Fusion().weights | {"face": 30.0}))
    indices, features = tuned.evidence([], "Charmander HP70", "", None, faces)
    face = features[:, FEATURES.index("face")]
    assert np.count_nonzero(face) == 1 and tuned.cards[indices[int(np.argmax(face))]].card_id == truth
    assert face.max() == np.float32(0.3)
    assert tuned.match([], "Charmander HP70", "", faces=faces).candidates[0].card.card_id == truth
    # with no name read, the likest face still becomes a candidate
    indices, _ = tuned.evidence([], "", "", None, {truth: 0.8, charmanders[0]: 0.2})
    assert truth in [tuned.cards[i].card_id for i in indices]
    # the cards compared: the match's candidates, the neighbours, then the name's other printings
    match = tuned.match([], "Charmander HP70", "")
    compared = tuned.face_candidates(match, [("sv2-1", 0.9)], None)
    assert set(charmanders) <= set(compared) and "sv2-1" in compared
    assert tuned.face_candidates(Match([], "POOR"), [("sv2-1", 0.9)], None) == ["sv2-1"]


def test_reduced_averages_ten_pixel_blocks() -> None:
    card = np.zeros((880, 630, 3), np.uint8)
    card[:10, :10] = 200
    cells = reduced(Image.fromarray(card))
    assert cells.shape == (GRID[1], GRID[0], 3) and cells[0, 0, 0] == 200 and cells[1, 1, 0] == 0


def test_faces_drawn_once_are_read_back_from_the_store(catalogs: list[Catalog], tmp_path: Path) -> None:
    card_id = next(c.id for c in catalogs[0].cards if c.set_id == "sv2")
    drawn = RenderedFaces(catalogs, tmp_path).face(card_id, "normal")
    path = RenderedFaces(catalogs, tmp_path).path(card_id, "normal")
    assert drawn is not None and path is not None and path.exists()
    # another process's source reads it instead of drawing: the same pixels, even with no catalog
    np.testing.assert_array_equal(RenderedFaces([], tmp_path).face(card_id, "normal"), drawn)
    assert RenderedFaces([], tmp_path).face("no-such-card", "normal") is None
    # a damaged file is drawn again and replaced
    path.write_bytes(b"not a face")
    np.testing.assert_array_equal(RenderedFaces(catalogs, tmp_path).face(card_id, "normal"), drawn)
    assert np.load(path).shape == drawn.shape
    # ids that are no file names are kept apart
    odd = RenderedFaces([], tmp_path).path("a/b:c", "normal")
    assert odd is not None and odd.parent == tmp_path


def test_faces_asked_for_from_many_threads_at_once(catalogs: list[Catalog], monkeypatch: pytest.MonkeyPatch) -> None:
    """The Serve pipeline runs several scans' face checks in worker threads side by side; the memory
    cache stays whole and within its size."""
    from concurrent.futures import ThreadPoolExecutor

    import models.faces

    monkeypatch.setattr(models.faces, "CACHE", 8)  # a small cache evicts all the time
    faces = RenderedFaces(catalogs)
    ids = [c.id for c in catalogs[0].cards if c.set_id == "sv2"][:24]
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda k: faces.face(ids[k % len(ids)], "normal"), range(96)))
    assert all(f is not None and f.shape == (GRID[1], GRID[0], 3) for f in found)
    assert len(faces.cache) <= 8


def test_the_art_rows_count_more_than_the_frame_and_text() -> None:
    """Two printings of one name share frame and text box and differ in their art: a card that
    matches a face in the art rows looks likelier to it than one that matches it everywhere else."""
    from models.faces import ART_ROWS

    rng = np.random.default_rng(1)
    face = (rng.random((GRID[1], GRID[0], 3)) * 255).astype(np.uint8)
    art = slice(int(ART_ROWS[0] * GRID[1]), int(ART_ROWS[1] * GRID[1]))
    same_art = (rng.random(face.shape) * 255).astype(np.uint8)
    same_art[art] = face[art]
    same_rest = face.copy()
    same_rest[art] = (rng.random(same_rest[art].shape) * 255).astype(np.uint8)
    # the art rows are fewer cells than the rest, yet weigh more
    assert same_art[art].size < same_rest.size - same_rest[art].size
    seen = np.ones((GRID[1], GRID[0]), bool)
    by_art, by_rest = likeness(face, np.stack([same_art, same_rest]), seen, shift=0)
    assert by_art > by_rest
