"""The detector round's reading of ultralytics' results.csv where polars is absent (the GPU machine)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import polars as pl

from pipelines.train.detector_round import read_results_csv


def test_results_are_read_as_ultralytics_reads_them_with_polars(tmp_path: Path) -> None:
    csv = tmp_path / "results.csv"
    csv.write_text(
        "epoch,time,train/box_loss,metrics/mAP50-95(P),lr/pg0\n1,12.5,1.25,0.875,0.0005\n2,24.0,1.125,0.9,0.00025\n"
    )
    read = read_results_csv(SimpleNamespace(csv=csv))
    assert read == pl.read_csv(csv.read_bytes(), infer_schema_length=None).to_dict(as_series=False) | {
        "epoch": [1.0, 2.0]  # polars keeps whole numbers as integers; ultralytics only reads them back
    }
    assert read_results_csv(SimpleNamespace(csv=tmp_path / "missing.csv")) == {}
