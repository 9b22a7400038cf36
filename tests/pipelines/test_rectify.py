"""From a photo scene back to a flat card: rectify by the labelled corners, then measure centering."""

from __future__ import annotations

import cv2
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


def _table_with(faces: list[tuple[Image.Image, tuple[int, int]]]) -> np.ndarray:
    table = Image.new("RGB", (1100, 1100), (90, 70, 50))
    for face, at in faces:
        table.paste(face, at, face)
    return np.asarray(table)


def _quad(at: tuple[int, int]) -> np.ndarray:
    x, y = at
    return np.array([[x, y], [x + 630, y], [x + 630, y + 880], [x, y + 880]], float)


def test_stacking_tells_which_card_lies_on_top(catalogs: list[Catalog]) -> None:
    """Two overlapping cards, pasted in either order: the one pasted last is found lying on the
    other (its edge runs across the other's face); a card apart from both covers nothing. The
    covered part of the bottom card is painted out for the identifier and the text reader."""
    from models.rectify import mask_covered, stacking, visibility

    catalog = catalogs[0]
    sets = {s.id: s for s in catalog.sets}
    cards = [c for c in catalog.cards if c.id in ("sv2-12", "base1-4")]
    a, b = (render_face(face_spec(c, sets[c.set_id], c.printings[0])).image for c in cards)
    at_a, at_b = (40, 40), (360, 180)
    b_on_top = _table_with([(a, at_a), (b, at_b)])
    for bottom, top in (((a, at_a), (b, at_b)), ((b, at_b), (a, at_a))):
        photo = _table_with([bottom, top])
        quads = [_quad(at_a), _quad(at_b), _quad((2000, 2000))]
        over, unsure = stacking(photo, quads)
        upper = 1 if top[1] == at_b else 0
        assert over[1 - upper] == [upper] and over[upper] == [] and over[2] == []
        assert unsure == [[], [], []]
    seen = visibility(_quad(at_a), [_quad(at_b)], (1100, 1100))
    masked = np.asarray(mask_covered(Image.fromarray(b_on_top[40:920, 40:670]), seen))
    assert (masked[400:, 400:] == masked[500, 500]).all()  # under the other card: one flat colour
    assert (masked[:100, :100] == b_on_top[40:140, 40:140]).all()  # what shows is untouched


def test_a_card_photographed_close_is_averaged_down_not_sampled() -> None:
    """A card four times larger in the photo than the rectified size (a phone photo of one card) is
    averaged down: its finest print (here 1 px stripes) becomes its mean, where sampling one pixel in
    four would keep stripes (aliasing); the card's geometry is the same as rectifying it small."""
    from models.rectify import SHRINK_ABOVE, shrunk_to

    w, h = 630 * 4, 880 * 4
    photo = np.full((h + 200, w + 200, 3), 40, np.uint8)  # 100 px around, 4 x 25
    card = np.zeros((h, w), np.uint8)
    card[:, ::2] = 255  # 1 px stripes
    card[h // 2 :, :] = np.where((np.arange(w) // 90) % 2, 200, 60)[None, :]  # coarse bars in the lower half
    photo[100 : 100 + h, 100 : 100 + w] = card[..., None]
    quad = np.array([[100, 100], [100 + w, 100], [100 + w, 100 + h], [100, 100 + h]], float) - 0.5
    flat = np.asarray(rectify_card(photo, quad).convert("L"), float)
    fine = flat[40 : 880 // 2 - 40, 40:-40]
    assert abs(fine.mean() - 127.5) < 3 and fine.std() < 3, (fine.mean(), fine.std())
    # the same photo shrunk four times by averaging, then rectified from there: the same crop
    small = cv2.resize(photo, (photo.shape[1] // 4, photo.shape[0] // 4), interpolation=cv2.INTER_AREA)
    direct = np.asarray(rectify_card(small, (quad + 0.5) / 4 - 0.5).convert("L"), float)
    assert np.abs(flat - direct)[8:-8, 8:-8].max() < 12 and np.abs(flat - direct).mean() < 1
    # a card about the rectified size is warped as it is
    same, _ = shrunk_to(small, (quad + 0.5) / 4 - 0.5, (630, 880))
    assert same is small and SHRINK_ABOVE > 1


def test_stacking_sees_a_border_that_differs_in_colour_only_beside_an_outline_off_the_card() -> None:
    """A yellow border on a pink card of the same grey, its found outline 4 px off the card's edge
    (corners the detector placed a little out): the colour step a few px beside the outline tells
    which card lies on top. Measured in grey on the outline itself (as until session 24), the pair
    stays unknown."""
    from models.rectify import edge_contrasts, on_top, stacking

    pink = Image.new("RGBA", (630, 880), (200, 140, 160, 255))
    top = Image.new("RGBA", (630, 880), (220, 190, 90, 255))  # same mean grey as the pink
    top.paste((150, 200, 230, 255), (40, 40, 590, 840))  # the face inside its border
    photo = _table_with([(pink, (40, 40)), (top, (360, 180))])
    found_top = _quad((360, 180)) + np.array([[-4, -4], [4, -4], [4, 4], [-4, 4]], float)
    quads = [_quad((40, 40)), found_top]
    over, unsure = stacking(photo, quads)
    assert over == [[1], []] and unsure == [[], []]
    grey = edge_contrasts(photo, quads, colour=False, shifts=(0.0,), offset=3.0)[(0, 1)]
    assert on_top(*grey) is None
