"""Card faces, wear and the grading rubric, scenes and the dataset builder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pipelines.catalog_sources import Catalog
from pipelines.render.card_face import BORDER, CARD_H, CARD_W, face_spec, render_back, render_face
from pipelines.render.condition import ConditionParams, apply_wear, centering_grade, grade
from pipelines.render.packs import printed_pack
from pipelines.render.scenes import CLOSEUP, _negative, _negative_quad, compose
from pipelines.scene_dataset import SceneDatasetConfig, build_scene_dataset, is_held_out_set, printing_pool
from serve_app.cli import app
from tests.conftest import DATA


def _spec(catalogs: list[Catalog], card_id: str, finish: str | None = None):  # type: ignore[no-untyped-def]
    for catalog in catalogs:
        sets = {s.id: s for s in catalog.sets}
        for card in catalog.cards:
            if card.id == card_id:
                printing = next(p for p in card.printings if finish is None or p.finish == finish)
                return face_spec(card, sets[card.set_id], printing)
    raise KeyError(card_id)


def _digest(image: Image.Image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def test_face_is_deterministic_with_true_proportions(catalogs: list[Catalog]) -> None:
    spec = _spec(catalogs, "sv2-12", "normal")
    a, b = render_face(spec).image, render_face(spec).image
    assert _digest(a) == _digest(b)
    assert a.size == (CARD_W, CARD_H) and abs(CARD_W / CARD_H - 63 / 88) < 1e-9
    assert a.getpixel((0, 0))[3] == 0 and a.getpixel((CARD_W // 2, CARD_H // 2))[3] == 255  # rounded corners
    assert spec.collector_line == "012/193" and spec.set_code == "PAL" and spec.regulation_mark == "G"


def test_reprints_and_finishes_look_different(catalogs: list[Catalog]) -> None:
    normal = np.asarray(render_face(_spec(catalogs, "sv2-12", "normal")).image, float)
    reverse = np.asarray(render_face(_spec(catalogs, "sv2-12", "reverse_holofoil")).image, float)
    assert np.abs(normal - reverse).mean() > 5
    # two Charizards of different printings: same name, different art
    one = np.asarray(render_face(_spec(catalogs, "base1-4")).image, float)
    other = np.asarray(render_face(_spec(catalogs, "sv3pt5-6")).image, float)
    assert np.abs(one - other).mean() > 10
    fab = render_face(_spec(catalogs, "MST131", "rainbow_foil")).image
    assert fab.size == (CARD_W, CARD_H) and _digest(render_back("pokemon")) != _digest(render_back("fab"))


def test_centering_moves_the_printed_frame(catalogs: list[Catalog]) -> None:
    spec = _spec(catalogs, "sv2-12", "normal")
    off = render_face(spec, centering=(0.65, 0.5))
    left, right = off.inner_box[0], CARD_W - off.inner_box[2]
    assert left / (left + right) == pytest.approx(0.65, abs=0.01)
    assert render_face(spec).inner_box[0] == BORDER


@pytest.mark.parametrize(("share", "expected"), [(0.5, 10), (0.55, 10), (0.56, 9), (0.60, 9), (0.62, 8), (0.95, 2)])
def test_centering_rubric_follows_psa(share: float, expected: float) -> None:
    assert centering_grade(share, 0.5) == expected
    assert centering_grade(0.5, 1 - share) == expected


def test_overall_grade_conventions() -> None:
    assert grade(ConditionParams()).overall == 10 and grade(ConditionParams()).condition == "NM"
    off_center = grade(ConditionParams(centering_lr=0.58))  # 58/42: a 9 at best (PSA)
    assert off_center.centering == 9 and off_center.overall == 9.5
    dinged = grade(ConditionParams(corner_whitening=[0.0, 0.0, 0.0, 0.9]))  # one bad corner caps the grade
    assert dinged.corners == 5.5 and dinged.overall == 6.0 and dinged.overall <= dinged.corners + 0.5
    creased = grade(ConditionParams(creases=1.0))
    assert creased.surface == 1.5 and creased.condition in ("HP", "DMG")


def test_wear_changes_pixels_where_it_should(catalogs: list[Catalog]) -> None:
    face = render_face(_spec(catalogs, "sv2-12", "normal")).image
    worn = apply_wear(
        face, ConditionParams(corner_whitening=[1.0, 0, 0, 0], corner_rounding=[1.0, 0, 0, 0]), np.random.default_rng(0)
    )
    a, b = np.asarray(face, float), np.asarray(worn, float)
    assert np.abs(a[:60, :60] - b[:60, :60]).mean() > np.abs(a[-60:, -60:] - b[-60:, -60:]).mean() + 5
    assert a[12, 12, 3] == 255 and b[12, 12, 3] == 0  # the corner is rounded off: transparent now


def test_a_ding_shows_as_much_as_the_rubric_weighs_it(catalogs: list[Catalog]) -> None:
    """A ding costs up to half a corner's damage in the rubric; at the scan-crop scale (half size)
    it must change the corner visibly, more as it grows, and leave the other corners alone."""
    face = render_face(_spec(catalogs, "sv2-12", "normal")).image

    def changed(ding: float) -> tuple[float, float]:
        worn = apply_wear(face, ConditionParams(corner_dings=[ding, 0, 0, 0]), np.random.default_rng(0))
        a = np.asarray(face.resize((CARD_W // 2, CARD_H // 2)), float)[..., :3]
        b = np.asarray(worn.resize((CARD_W // 2, CARD_H // 2)), float)[..., :3]
        # pixels of the 32x32 corner patch that moved by more than sensor noise
        return float((np.abs(a - b)[:32, :32].max(axis=2) > 12).mean()), float(np.abs(a - b)[-32:, -32:].max())

    light, untouched = changed(0.2)
    heavy, _ = changed(1.0)
    assert untouched == 0
    assert 0.03 < light < heavy and heavy > 0.15


def test_light_corner_whitening_shows_on_the_rounded_corner(catalogs: list[Catalog]) -> None:
    """Whitening is drawn along the corner's rounded outline: even light whitening (0.1, which
    the rubric already weighs) changes visible pixels of the card, on a sharp corner and on a
    worn one, more as it grows, and no other corner."""
    face = render_face(_spec(catalogs, "sv2-12", "normal")).image

    def shown(whitening: float, rounding: float) -> tuple[int, float]:
        base = apply_wear(face, ConditionParams(corner_rounding=[rounding, 0, 0, 0]), np.random.default_rng(0))
        params = ConditionParams(corner_whitening=[whitening, 0, 0, 0], corner_rounding=[rounding, 0, 0, 0])
        worn = apply_wear(face, params, np.random.default_rng(0))
        a, b = np.asarray(base, float), np.asarray(worn, float)
        moved = (np.abs(a - b)[..., :3].max(axis=2) > 12) & (b[..., 3] > 128)  # on the card, not cut away
        return int(moved[:120, :120].sum()), float(np.abs(a - b)[-120:, -120:].max())

    for rounding in (0.0, 0.5):
        light, untouched = shown(0.1, rounding)
        medium, _ = shown(0.2, rounding)
        heavy, _ = shown(0.6, rounding)
        assert untouched == 0
        assert 40 < light < heavy and medium < heavy, (rounding, light, medium, heavy)


def test_scene_labels_match_the_drawn_cards(catalogs: list[Catalog]) -> None:
    specs = [_spec(catalogs, cid) for cid in ("sv2-12", "base1-4", "MST131")]
    a = compose(specs, np.random.default_rng(7), layout="table", negatives=0)
    b = compose(specs, np.random.default_rng(7), layout="table", negatives=0)
    assert _digest(a.image) == _digest(b.image) and a.cards == b.cards
    empty = compose([], np.random.default_rng(7), layout="table", negatives=0)  # the same surface, no cards
    drawn = np.abs(np.asarray(a.image, float) - np.asarray(empty.image, float)).sum(-1) > 30
    for card in a.cards:
        quad = np.array(card["corners"])
        cx, cy = quad.mean(0).astype(int)
        assert card["visible"] > 0.9
        # inside the labelled quadrilateral the photo differs from the bare surface
        inner = (quad.mean(0) + 0.8 * (quad - quad.mean(0))).astype(int)
        assert drawn[cy, cx] and sum(drawn[y, x] for x, y in inner) >= 3
        x0, y0, x1, y1 = card["box"]
        assert x0 <= cx <= x1 and y0 <= cy <= y1
    assert {c["printing_id"] for c in a.cards} == {s.printing_id for s in specs}


def test_a_close_up_is_one_card_filling_the_photo(catalogs: list[Catalog]) -> None:
    specs = [_spec(catalogs, cid) for cid in ("sv2-12", "base1-4")]
    for seed in range(6):
        scene = compose(specs, np.random.default_rng(seed), layout=CLOSEUP, negatives=0)
        assert scene.layout == CLOSEUP and len(scene.cards) == 1
        quad = np.array(scene.cards[0]["corners"])
        height = np.linalg.norm(quad[3] - quad[0])
        assert 0.75 * 960 < height < 1.2 * 960, height
    # a close-up of no card is of one negative (a pack, a box, a card back) filling the photo
    assert not compose([], np.random.default_rng(0), layout=CLOSEUP, negatives=1).cards
    rng = np.random.default_rng(1)
    for kind in ("wrapper", "box", "back"):
        img = _negative(kind, rng, "pokemon")
        close = _negative_quad(kind, img, rng, (1280, 960), close=True)
        sides = [float(np.linalg.norm(close[i] - close[i - 1])) for i in range(4)]
        assert 0.7 * 960 < max(sides) < 1.15 * 960, (kind, sides)


def test_a_printed_pack_is_a_real_packs_shape_and_print() -> None:
    """A booster pack as printed (``pipelines.render.packs``): taller and narrower than a card, its seals'
    teeth transparent, the same pack from the same seed, another from another."""
    pack = printed_pack(np.random.default_rng(4), "pokemon", "Paldea Evolved")
    assert pack.mode == "RGBA" and 0.5 < pack.width / pack.height < 0.56 < CARD_W / CARD_H
    alpha = np.asarray(pack)[:, :, 3]
    assert alpha[0].min() == 0 and alpha[-1].min() == 0 and alpha[pack.height // 2].min() == 255
    again = printed_pack(np.random.default_rng(4), "pokemon", "Paldea Evolved")
    assert again.tobytes() == pack.tobytes()
    assert printed_pack(np.random.default_rng(5), "pokemon", "Paldea Evolved").tobytes() != pack.tobytes()
    assert printed_pack(np.random.default_rng(4), "fab", "Heavy Hitters").tobytes() != pack.tobytes()
    # asked for, a photo's wrappers are printed packs
    titles = {"pokemon": ["Paldea Evolved"], "fab": ["Heavy Hitters"]}
    plain = compose([], np.random.default_rng(2), layout=CLOSEUP, negatives=1, negative_kinds=("wrapper",))
    printed = compose(
        [], np.random.default_rng(2), layout=CLOSEUP, negatives=1, negative_kinds=("wrapper",), pack_titles=titles
    )
    assert not printed.cards and printed.image.tobytes() != plain.image.tobytes()


def test_dataset_is_rebuilt_identically_from_its_seed(catalogs: list[Catalog], tmp_path: Path) -> None:
    first = build_scene_dataset(SceneDatasetConfig(out=tmp_path / "a", images=4, seed=3), catalogs)
    build_scene_dataset(SceneDatasetConfig(out=tmp_path / "b", images=4, seed=3), catalogs)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert first["images"] == 4 and len(files) >= 10
    for rel in files:
        if rel.name != "data.yaml":
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    lines = [json.loads(line) for line in (tmp_path / "a" / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    for entry in lines:
        label = (tmp_path / "a" / entry["image"].replace("images", "labels").replace(".jpg", ".txt")).read_text()
        labelled = [c for c in entry["cards"] if c["visible"] >= 0.3]
        assert len(label.splitlines()) == len(labelled)
        for row in label.splitlines():
            values = [float(v) for v in row.split()]
            assert len(values) == 17 and values[0] == 0 and all(0 <= v <= 1 for v in values[1:5])


def test_printed_packs_draw_the_same_photos_with_printed_wrappers(catalogs: list[Catalog], tmp_path: Path) -> None:
    """``printed_packs``: the photos of the same seed, the booster wrappers among their negatives printed
    as real packs (``pipelines.render.packs``); every card and label unchanged."""
    config = SceneDatasetConfig(out=tmp_path / "a", images=4, seed=9, max_cards=2)  # one photo has a wrapper
    build_scene_dataset(config, catalogs)
    build_scene_dataset(replace(config, out=tmp_path / "b", printed_packs=True), catalogs)
    manifests = [(tmp_path / d / "manifest.jsonl").read_text() for d in ("a", "b")]
    assert manifests[0] == manifests[1]
    photos = sorted((tmp_path / "a" / "images").rglob("*.jpg"))
    changed = [
        p.name for p in photos if p.read_bytes() != (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes()
    ]
    assert 0 < len(changed) < len(photos), changed  # the photos with a wrapper, and only those


def test_other_art_draws_the_same_photos_with_other_art(catalogs: list[Catalog], tmp_path: Path) -> None:
    """``other_art``: the photos of the same seed, each card's art drawn from another seed (a real
    card's art is not the reference face's), labels unchanged."""
    from PIL import Image

    build_scene_dataset(SceneDatasetConfig(out=tmp_path / "a", images=3, seed=8), catalogs)
    build_scene_dataset(SceneDatasetConfig(out=tmp_path / "b", images=3, seed=8, other_art=True), catalogs)
    assert (tmp_path / "a" / "manifest.jsonl").read_text() == (tmp_path / "b" / "manifest.jsonl").read_text()
    changed = clear = 0
    for entry in [json.loads(line) for line in (tmp_path / "a" / "manifest.jsonl").read_text().splitlines()]:
        a, b = (np.asarray(Image.open(tmp_path / d / entry["image"]), np.float32) for d in ("a", "b"))
        for card in entry["cards"]:
            if card["visible"] < 0.9:
                continue
            clear += 1
            x0, y0, x1, y1 = (int(v) for v in card["box"])
            cx, cy, w, h = (x0 + x1) // 2, (y0 + y1) // 2, (x1 - x0) // 6, (y1 - y0) // 8
            middle = (slice(cy - h, cy + h), slice(cx - w, cx + w))  # the art window, whichever way it lies
            changed += float(np.abs(a[middle] - b[middle]).mean()) > 4  # the same seed draws it byte for byte
    assert changed == clear >= 2


def test_held_out_split_uses_other_sets(catalogs: list[Catalog]) -> None:
    train = {s.printing_id.split(":")[0] for s in printing_pool(catalogs, "train")}
    held = {s.printing_id.split(":")[0] for s in printing_pool(catalogs, "heldout")}
    assert not train & held
    assert all(is_held_out_set(c.set_id) for catalog in catalogs for c in catalog.cards if c.id in held)


def test_cli_builds_scenes(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "dataset",
            "scenes",
            "--out",
            str(tmp_path / "ds"),
            "--images",
            "2",
            "--seed",
            "1",
            "--catalog-dir",
            str(DATA),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ds" / "data.yaml").exists() and len(list((tmp_path / "ds").rglob("*.jpg"))) == 2
