"""The detector pipeline end to end at tiny scale: scenes, one epoch, ONNX export matching torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.catalog_sources import Catalog
from pipelines.scene_dataset import SceneDatasetConfig, build_scene_dataset


def test_detector_trains_exports_and_onnx_matches_torch(catalogs: list[Catalog], tmp_path: Path) -> None:
    from pipelines.train.detector import DetectorConfig, torch_and_onnx_outputs, train_detector, write_model_card

    build_scene_dataset(
        SceneDatasetConfig(out=tmp_path / "data", images=6, seed=2, size=(320, 240), val_fraction=0.34), catalogs
    )
    result = train_detector(
        DetectorConfig(data=tmp_path / "data", runs=tmp_path / "runs", epochs=1, imgsz=160, batch=4, workers=0)
    )
    assert result.weights.exists() and result.onnx.exists()
    assert {"metrics/recall(B)", "metrics/mAP50(P)"} <= set(result.metrics)
    batch = np.random.default_rng(0).random((3, 3, 160, 160), dtype=np.float32)  # dynamic batch of 3
    reference, exported = torch_and_onnx_outputs(result.weights, result.onnx, batch)
    assert reference.shape == exported.shape and reference.shape[0] == 3
    assert reference.shape[1] == 4 + 1 + 4 * 3  # box, class, four (x, y, visibility) corners
    np.testing.assert_allclose(exported, reference, rtol=1e-3, atol=1e-3)
    from pipelines.evaluate_detector import evaluate_detector

    quality = evaluate_detector(result.onnx, tmp_path / "data", imgsz=160)
    assert quality["images"] == 6
    assert all(0 <= quality[k] <= 1 for k in ("precision@0.5", "recall@0.5", "precision@0.75", "recall@0.75"))
    from typer.testing import CliRunner

    from serve_app.cli import app

    printed = CliRunner().invoke(
        app, ["evaluate", "--scenes", str(tmp_path / "data"), "--detector", str(result.onnx), "--imgsz", "160"]
    )
    assert printed.exit_code == 0, printed.output
    assert "recall@0.75" in printed.output and "corner_error_pct_of_diagonal" in printed.output
    card = write_model_card(result, tmp_path / "models", command="test", dataset={"images": 6})
    assert "Validation metrics" in card.read_text() and (tmp_path / "models" / "detector.onnx").exists()


def test_training_continues_from_the_shipped_onnx_over_two_datasets(catalogs: list[Catalog], tmp_path: Path) -> None:
    """The shipped detector's export becomes a checkpoint with the same outputs, whose batch norms
    also give about the same outputs when they normalise by the batch (as in training)."""
    import onnxruntime as ort
    import pytest
    import torch
    from PIL import Image

    from models.detector import letterbox
    from pipelines.train.detector import DetectorConfig, train_detector, weights_from_onnx

    for seed, name in ((4, "a"), (5, "b")):
        build_scene_dataset(
            SceneDatasetConfig(out=tmp_path / name, images=4, seed=seed, size=(640, 480), val_fraction=0.5), catalogs
        )
    photos = sorted((tmp_path / "a" / "images").rglob("*.jpg")) + sorted((tmp_path / "b" / "images").rglob("*.jpg"))
    shipped = Path("models/detector/detector.onnx")
    checkpoint = weights_from_onnx(shipped, tmp_path / "init.pt", images=photos, imgsz=416)
    model = torch.load(checkpoint, weights_only=False)["model"].float().eval()
    batch = np.stack([letterbox(Image.open(p), 416)[0] for p in photos])
    with torch.no_grad():
        rebuilt = model(torch.from_numpy(batch))[0].numpy()
    session = ort.InferenceSession(str(shipped), providers=["CPUExecutionProvider"])
    exported = session.run(None, {session.get_inputs()[0].name: batch})[0]
    np.testing.assert_allclose(rebuilt, exported, rtol=1e-3, atol=1e-2)  # boxes in pixels up to ~450
    for norm in model.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.train()
    with torch.no_grad():
        by_batch = model(torch.from_numpy(batch))[0].numpy()
    assert exported[:, 4].max() > 0.5  # there are cards to be sure of
    assert np.abs(by_batch[:, 4] - exported[:, 4]).max() < 0.15  # card scores, normalised by the batch
    with pytest.raises(ValueError, match="does not hold"):
        weights_from_onnx(Path("models/corners/corners.onnx"), tmp_path / "wrong.pt")

    result = train_detector(
        DetectorConfig(
            data=tmp_path / "a",
            more_data=(tmp_path / "b",),
            runs=tmp_path / "runs",
            epochs=1,
            imgsz=416,
            batch=4,
            workers=0,
            init=shipped,
            extra={"optimizer": "AdamW", "lr0": 1e-6, "warmup_bias_lr": 1e-6, "warmup_epochs": 0},
        )
    )
    assert result.onnx.exists() and (tmp_path / "runs" / "detector-data.yaml").exists()
    # one step at a tiny rate from the shipped weights still finds the cards (from scratch: nothing)
    assert result.metrics["metrics/mAP50(B)"] > 0.5, result.metrics
