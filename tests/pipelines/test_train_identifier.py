"""The identifier pipeline at tiny scale: ArcFace + finish head, ONNX export, retrieval, indexing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from pipelines.catalog_sources import Catalog
from pipelines.export import load_onnx_weights
from pipelines.scene_dataset import printing_pool
from pipelines.train.identifier import (
    ART_WINDOW,
    FINISH_CLASSES,
    INPUT_H,
    INPUT_W,
    EmbeddingIndex,
    IdentifierConfig,
    _model,
    add_foil,
    build_index,
    evaluate_retrieval,
    fast_view,
    reference_specs,
    render_cache,
    train_identifier,
)
from tests.conftest import DATA
from tests.exports import torch_and_onnx


def test_identifier_trains_exports_and_retrieves(catalogs: list[Catalog], tmp_path: Path) -> None:
    import onnxruntime as ort
    import torch

    pool = printing_pool(catalogs, "train")[:40]
    result = train_identifier(
        IdentifierConfig(out=tmp_path, printings=8, views_per_printing=3, epochs=2, batch=8), pool
    )
    assert len(result["loss"]) == 2 and len(result["finish_accuracy"]) == 2 and Path(result["onnx"]).exists()
    # continuing from trained weights: every class starts at its card's embedding, so the loss starts low
    resumed = train_identifier(
        IdentifierConfig(
            out=tmp_path / "resumed", printings=8, views_per_printing=3, epochs=1, batch=8, init=Path(result["weights"])
        ),
        pool,
    )
    assert resumed["loss"][0] < result["loss"][0]
    # a shipped identifier (ONNX only, BatchNorm folded into the convolutions) can be trained further:
    # the torch model rebuilt from it answers as the export does, and its classes start where it puts them
    rebuilt = _model(128)
    load_onnx_weights(rebuilt, Path(result["onnx"]))
    rebuilt.eval()
    probe = np.random.default_rng(1).normal(size=(2, 3, INPUT_H, INPUT_W)).astype(np.float32)
    with torch.no_grad():
        rebuilt_embedding = rebuilt(torch.from_numpy(probe))[0].numpy()
    shipped = ort.InferenceSession(result["onnx"]).run(None, {"image": probe})
    np.testing.assert_allclose(rebuilt_embedding, shipped[0], atol=1e-5)
    from_onnx = train_identifier(
        IdentifierConfig(
            out=tmp_path / "from-onnx",
            printings=8,
            views_per_printing=3,
            epochs=1,
            batch=8,
            init=Path(result["onnx"]),
            foil_share=0.5,
        ),
        pool,
    )
    assert from_onnx["loss"][0] < result["loss"][0]
    assert result["classes"] == 8 and result["printings"] >= 8  # a card's printings share its class
    batch = np.random.default_rng(0).normal(size=(3, 3, INPUT_H, INPUT_W)).astype(np.float32)
    (embedding, finish), exported = torch_and_onnx(_model(128), result, batch, "image")
    np.testing.assert_allclose(exported[0], embedding, atol=1e-4)
    np.testing.assert_allclose(exported[1], finish, atol=1e-4)
    assert np.allclose(np.linalg.norm(exported[0], axis=1), 1, atol=1e-4)
    assert exported[1].shape == (3, len(FINISH_CLASSES)) and np.allclose(exported[1].sum(1), 1, atol=1e-4)
    trained = [s for s in pool if s.printing_id in set(result["train_printings"])]
    metrics = evaluate_retrieval(Path(result["onnx"]), gallery=pool, queries=trained, seed=1)
    assert metrics["gallery"] == len({s.art_key for s in pool}) and metrics["queries"] == len(trained)
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 1 and 0 <= metrics["finish_accuracy"] <= 1

    # a new set is added by indexing its faces, then merged into the index: no retraining
    out = tmp_path / "index.npz"
    runner = CliRunner()
    from serve_app.cli import app

    os.environ["CARDVAULT_CATALOG_DIR"] = str(DATA)
    try:
        for set_id in ("sv3pt5", "WTR"):
            done = runner.invoke(app, ["index", "--set", set_id, "--identifier", result["onnx"], "--out", str(out)])
            assert done.exit_code == 0, done.output
    finally:
        os.environ.pop("CARDVAULT_CATALOG_DIR")
    index = EmbeddingIndex(Path(result["onnx"]))
    index.load(out)
    expected = {c.id for cat in catalogs for c in cat.cards if c.set_id in ("sv3pt5", "WTR") and c.printings}
    assert set(index.ids) == expected and index.vectors.shape == (len(expected), 128)
    # faces drawn by worker processes embed exactly as those drawn here
    few = reference_specs(pool)[:6]
    here, pooled = EmbeddingIndex(Path(result["onnx"])), EmbeddingIndex(Path(result["onnx"]))
    build_index(here, few, batch=4)
    build_index(pooled, few, batch=4, workers=2)
    assert here.ids == pooled.ids == [s.art_key for s in few]
    np.testing.assert_allclose(here.vectors, pooled.vectors, atol=1e-6)


def test_fast_views_are_photo_like_and_deterministic(catalogs: list[Catalog]) -> None:
    faces = render_cache(printing_pool(catalogs, "train")[:2])
    a = fast_view(faces[0], np.random.default_rng(3))
    b = fast_view(faces[0], np.random.default_rng(3))
    assert a.shape == (3, INPUT_H, INPUT_W) and np.array_equal(a, b)
    assert not np.array_equal(a, fast_view(faces[0], np.random.default_rng(4)))


def test_foil_augmentation_shines_only_where_the_finish_does(catalogs: list[Catalog]) -> None:
    face = render_cache([s for s in printing_pool(catalogs, "train") if s.finish == "normal"][:1])[0]
    h, w = face.shape[:2]
    x0, x1 = round(ART_WINDOW[0] * w), round(ART_WINDOW[2] * w)
    y0, y1 = round(ART_WINDOW[1] * h), round(ART_WINDOW[3] * h)
    art = (slice(y0, y1), slice(x0, x1))
    holo = add_foil(face, "holofoil", np.random.default_rng(0))
    changed = np.abs(holo.astype(int) - face.astype(int)).max(axis=2) > 0
    assert changed[art].mean() > 0.5 and not changed[:y0].any() and not changed[y1:].any()
    reverse = add_foil(face, "reverse_holofoil", np.random.default_rng(0))
    changed = np.abs(reverse.astype(int) - face.astype(int)).max(axis=2) > 0
    assert not changed[art].any() and changed[y1 + 5 : h - 20].mean() > 0.5
    assert np.array_equal(holo[..., 3], face[..., 3])  # the card's outline stays
    assert np.array_equal(holo, add_foil(face, "holofoil", np.random.default_rng(0)))  # deterministic per seed
    assert not np.array_equal(holo, add_foil(face, "holofoil", np.random.default_rng(1)))  # random sheen
