"""The identifier pipeline at tiny scale: ArcFace training, ONNX export, retrieval through an index."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.catalog_sources import Catalog
from pipelines.scene_dataset import printing_pool
from pipelines.train.identifier import (
    INPUT_H,
    INPUT_W,
    IdentifierConfig,
    _model,
    evaluate_retrieval,
    train_identifier,
)


def test_identifier_trains_exports_and_retrieves(catalogs: list[Catalog], tmp_path: Path) -> None:
    import onnxruntime as ort
    import torch

    pool = printing_pool(catalogs, "train")[:40]
    result = train_identifier(
        IdentifierConfig(out=tmp_path, printings=8, views_per_printing=3, epochs=2, batch=8), pool
    )
    assert len(result["loss"]) == 2 and Path(result["onnx"]).exists()
    model = _model(128)
    model.load_state_dict(torch.load(result["weights"]))
    model.eval()
    batch = np.random.default_rng(0).normal(size=(3, 3, INPUT_H, INPUT_W)).astype(np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(batch)).numpy()
    exported = ort.InferenceSession(result["onnx"]).run(None, {"image": batch})[0]
    np.testing.assert_allclose(exported, reference, atol=1e-4)
    assert np.allclose(np.linalg.norm(exported, axis=1), 1, atol=1e-4)
    trained = [s for s in pool if s.printing_id in set(result["train_printings"])]
    metrics = evaluate_retrieval(Path(result["onnx"]), gallery=pool, queries=trained, seed=1)
    assert metrics["gallery"] == 40 and metrics["queries"] == 8
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 1
