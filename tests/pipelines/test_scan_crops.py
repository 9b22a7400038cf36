"""Cards cut out of scene photos as the scan cuts them, and the grader and identifier trained on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.matching import CatalogMatcher
from models.scan import LocalRunners, ScanEngine
from pipelines.catalog_sources import Catalog
from pipelines.render.card_face import render_face
from pipelines.scan_crops import build_crops, upright
from pipelines.scene_dataset import SceneDatasetConfig, build_scene_dataset, printing_pool
from tests.exports import torch_and_onnx


@pytest.fixture(scope="module")
def crop_set(catalogs: list[Catalog], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crops")
    build_scene_dataset(SceneDatasetConfig(out=root / "scenes", images=4, seed=3), catalogs)
    engine = ScanEngine(LocalRunners(device="cpu"), CatalogMatcher(catalogs))
    counts = build_crops(root / "scenes", root / "crops", engine=engine)
    assert counts["photos"] == 4 and counts["crops"] > 0
    return root / "crops"


def test_upright_puts_the_quad_in_the_labels_reading_order() -> None:
    truth = np.array([[10, 10], [60, 12], [58, 90], [8, 88]], float)
    for k in range(4):
        np.testing.assert_allclose(upright(np.roll(truth + 1.5, k, axis=0), truth), truth + 1.5)


def test_crops_are_the_labelled_cards_upright(crop_set: Path, catalogs: list[Catalog]) -> None:
    specs = {s.printing_id: s for s in printing_pool(catalogs, "train")}
    rows = [json.loads(line) for line in (crop_set / "manifest.jsonl").read_text().splitlines()]
    clear = [r for r in rows if r["visible"] > 0.95 and r["covered"] < 0.05]
    assert clear, "no fully visible card was cut out"
    for row in rows:
        assert {"printing_id", "finish", "grades", "condition", "quad"} <= set(row)
        assert 1 <= row["grades"]["overall"] <= 10
    agree = []
    for row in clear:
        crop = np.asarray(Image.open(crop_set / row["image"]).convert("L").resize((63, 88)), float)
        condition = row["condition"]
        face = render_face(
            specs[row["printing_id"]], centering=(condition["centering_lr"], condition["centering_tb"])
        ).image
        flat = Image.new("RGB", face.size, (0, 0, 0))
        flat.paste(face, (0, 0), face)
        reference = np.asarray(flat.convert("L").resize((63, 88)), float)
        same = np.corrcoef(crop[8:-8, 8:-8].ravel(), reference[8:-8, 8:-8].ravel())[0, 1]
        turned = np.corrcoef(crop[::-1, ::-1][8:-8, 8:-8].ravel(), reference[8:-8, 8:-8].ravel())[0, 1]
        agree.append((round(same, 2), round(turned, 2), row["finish"]))
    # the card itself, the right way up (a whole-card foil's sheen moves with the light, so only the
    # turn is asked of it)
    assert all(same > turned for same, turned, _ in agree), agree
    assert all(same > 0.6 for same, _, finish in agree if finish not in {"rainbow_foil", "cold_foil"}), agree


def test_grader_trains_on_scan_crops(crop_set: Path, catalogs: list[Catalog], tmp_path: Path) -> None:
    from pipelines.train.grader import GraderConfig, train_grader

    first = train_grader(
        GraderConfig(out=tmp_path / "a", examples=0, epochs=1, batch=8, crops=(crop_set,), heldout=crop_set), []
    )
    assert first["metrics"]["validation_cards"] == len((crop_set / "manifest.jsonl").read_text().splitlines())
    assert 0 <= first["metrics"]["overall_within_1_true_centering"] <= 1
    # continued from its own ONNX export with nothing more to learn, it grades as before
    again = train_grader(
        GraderConfig(
            out=tmp_path / "b", examples=0, epochs=0, crops=(crop_set,), heldout=crop_set, init=Path(first["onnx"])
        ),
        [],
    )
    for key in ("corners_mae", "edges_mae", "surface_mae"):
        assert abs(again["metrics"][key] - first["metrics"][key]) < 1e-3


def test_identifier_trains_on_scan_crops_and_measures_them(
    crop_set: Path, catalogs: list[Catalog], tmp_path: Path
) -> None:
    from pipelines.train.identifier import (
        CROP_MIN_VISIBLE,
        EmbeddingIndex,
        IdentifierConfig,
        build_index,
        crop_views,
        evaluate_crops,
        reference_specs,
        train_identifier,
    )

    pool = printing_pool(catalogs, "train")
    _, keys, _ = crop_views([crop_set], pool, min_visible=CROP_MIN_VISIBLE)
    result = train_identifier(
        IdentifierConfig(
            out=tmp_path, printings=4, views_per_printing=2, epochs=1, batch=8, crops=(crop_set,), crop_share=0.5
        ),
        pool,
    )
    assert result["crops"] == len(keys) > 0
    assert set(keys) <= set(result["train_cards"])  # every cropped card is a class
    index = EmbeddingIndex(Path(result["onnx"]))
    build_index(index, [s for s in reference_specs(pool) if s.art_key in set(keys)])
    metrics = evaluate_crops(index, crop_set, pool)  # every crop, as the scan gets them
    assert metrics["crops"] == len((crop_set / "manifest.jsonl").read_text().splitlines())
    assert 0 <= metrics["crops_top1"] <= metrics["crops_top5"] <= 1


def test_a_card_under_another_is_kept_as_the_scan_shows_it(
    catalogs: list[Catalog], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """In a fan, a card another one surely lies on also gets its crop with that part painted out
    (``shown``: what the scan hands the identifier); training takes it, with less of the card in
    view than an unmasked crop needs, and takes it painted out."""
    from models.rectify import stacking
    from pipelines.render.scenes import compose
    from pipelines.scan_crops import photo_crops
    from pipelines.train.identifier import CROP_MIN_VISIBLE, SHOWN_MIN_VISIBLE, crop_views

    pool = printing_pool(catalogs, "train")
    fan = compose(pool[:6], np.random.default_rng(5), layout="fan", negatives=0)
    rgb = np.asarray(fan.image.convert("RGB"))
    engine = ScanEngine(LocalRunners(device="cpu"), CatalogMatcher(catalogs))
    crops = photo_crops(engine, rgb, fan.cards)
    under = [c for c in crops if c.shown is not None]
    assert under and len(under) < len(crops)  # the top card has nothing over it
    assert any(stacking(rgb, [c.quad for c in crops])[0])
    for crop in under:
        shown, raw = np.asarray(crop.shown), np.asarray(crop.image)
        assert shown.shape == raw.shape and (shown != raw).any()
    root = tmp_path_factory.mktemp("fan")
    rows_file = root / "crops" / "manifest.jsonl"
    (root / "crops" / "images").mkdir(parents=True)
    with rows_file.open("w") as manifest:
        for k, crop in enumerate(crops):
            name, shown_name = f"images/{k}.png", f"images/{k}_shown.png" if crop.shown is not None else None
            crop.image.save(root / "crops" / name)
            if crop.shown is not None:
                crop.shown.save(root / "crops" / str(shown_name))
            row = {"image": name, "shown": shown_name, "printing_id": crop.label["printing_id"]}
            manifest.write(json.dumps(row | {"finish": crop.label["finish"], "visible": 0.45}) + "\n")
    assert SHOWN_MIN_VISIBLE < 0.45 < CROP_MIN_VISIBLE
    pixels, keys, _ = crop_views([root / "crops"], pool, min_visible=CROP_MIN_VISIBLE)
    assert len(keys) == len(under)  # at 45% in view only the painted-out crops train
    from models.identify import identifier_pixels

    first = identifier_pixels(Image.open(root / "crops" / f"images/{crops.index(under[0])}_shown.png"))
    assert (pixels[0] == first).all()


def test_wear_network_trains_on_scan_crops_and_exports(crop_set: Path, tmp_path: Path) -> None:
    from models.wear import EDGE_STRETCHES, PATCH, WearNet
    from pipelines.train.wear import WearConfig, _model, load_examples, train_wear, write_card

    examples = load_examples([crop_set])
    assert len(examples.corner_patches) == len(examples.corner_labels) > 0
    # an edge in full view is labelled once, with all the stretches that cover it
    assert examples.edge_patches.shape[1:] == (EDGE_STRETCHES, PATCH, PATCH, 3)
    assert len(examples.edge_patches) == len(examples.edge_labels) == 4 * int(examples.edges_seen.sum())
    epochs: list[tuple[int, float, float]] = []
    config = WearConfig(out=tmp_path, crops=(crop_set,), heldout=crop_set, epochs=2, batch=16, edge_batch=4)
    result = train_wear(config, on_epoch=lambda *reported: epochs.append(reported))
    assert [(e, loss) for e, loss, _ in epochs] == list(zip([1, 2], result["loss"], strict=True))
    assert 0 < epochs[0][2] <= epochs[1][2] <= result["seconds"]
    assert 0 <= result["metrics"]["corners_within_1"] <= 1 and result["metrics"]["corners_cards"] > 0
    # the model card names the training folders as they were given, not as a tuple's repr
    card = write_card(result, tmp_path / "card", "cardvault train wear ...").read_text()
    assert result["config"]["crops"] == str(crop_set) and f"sets {crop_set} (" in card and "PosixPath" not in card
    batch = np.random.default_rng(0).random((3, 3, PATCH, PATCH), dtype=np.float32)
    reference, (exported,) = torch_and_onnx(_model(), result, batch, "patches")
    np.testing.assert_allclose(exported, reference, atol=1e-5)
    corners, edges = WearNet(Path(result["onnx"])).damage(np.zeros((2, 440, 315, 3), np.uint8))
    assert corners.shape == (2, 4) and edges.shape == (2, 4, EDGE_STRETCHES) and ((corners >= 0) & (corners <= 1)).all()


def test_wear_cli_refuses_a_folder_that_is_no_crop_set_and_trains_on_one(crop_set: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from serve_app.cli import app

    refused = CliRunner().invoke(app, ["train", "wear", "--crops", str(tmp_path), "--heldout", str(crop_set)])
    assert refused.exit_code != 0 and "not a scan-crop set" in refused.output
    missing = tmp_path / "nothing.onnx"
    no_init = CliRunner().invoke(
        app, ["train", "wear", "--crops", str(crop_set), "--heldout", str(crop_set), "--init", str(missing)]
    )
    assert no_init.exit_code != 0 and "no such ONNX file" in no_init.output
    out = tmp_path / "wear"
    result = CliRunner().invoke(
        app,
        ["train", "wear", "--crops", str(crop_set), "--heldout", str(crop_set), "--out", str(out), "--epochs", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "epoch 1/1: loss " in result.output  # a long run says how far it has got
    assert (out / "wear.onnx").exists() and "corners_within_1" in (out / "metrics.json").read_text()
