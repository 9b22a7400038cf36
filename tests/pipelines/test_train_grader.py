"""The grader pipeline at tiny scale: rubric-labelled worn cards, training, ONNX matching torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.catalog_sources import Catalog
from pipelines.scene_dataset import printing_pool
from pipelines.train.grader import INPUT_H, INPUT_W, GraderConfig, _model, train_grader
from tests.exports import torch_and_onnx


def test_grader_trains_and_exports(catalogs: list[Catalog], tmp_path: Path) -> None:
    result = train_grader(
        GraderConfig(out=tmp_path, examples=24, epochs=1, batch=8), printing_pool(catalogs, "train")[:10]
    )
    assert set(result["metrics"]) >= {"corners_mae", "edges_within_1", "surface_mae"}
    batch = np.random.default_rng(0).random((2, 3, INPUT_H, INPUT_W), dtype=np.float32)
    reference, (exported,) = torch_and_onnx(_model(), result, batch, "image")
    np.testing.assert_allclose(exported, reference, atol=1e-4)
    assert ((exported >= 1) & (exported <= 10)).all()


def test_grader_cli(tmp_path: Path) -> None:
    import os

    from typer.testing import CliRunner

    from serve_app.cli import app
    from tests.conftest import DATA

    os.environ["CARDVAULT_CATALOG_DIR"] = str(DATA)
    try:
        result = CliRunner().invoke(
            app, ["train", "grader", "--out", str(tmp_path), "--examples", "12", "--epochs", "1"]
        )
    finally:
        os.environ.pop("CARDVAULT_CATALOG_DIR")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grader.onnx").exists() and "corners_mae" in result.output
